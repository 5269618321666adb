"""The POS scan page (pos.views) through Django's test client."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from campaigns.services import member_enroll
from members.models import LedgerEntry, Member, User
from pos.models import Purchase, Return
from pos.services import purchase_record
from tests.factories import StoreFactory, UserFactory
from tests.helpers import assert_balance_matches_ledger
from tiers.models import Tier
from tiers.selectors import member_tier
from tiers.services import tier_invite

INDEX = reverse("pos:index")


@pytest.fixture
def assistant(antwerp):
    user = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    antwerp.staff.add(user)
    return user


@pytest.fixture
def till(client, assistant, program):
    client.force_login(assistant)
    return client


def member_url(member, name="pos:member"):
    return reverse(name, args=[member.member_number])


def sale_post(client, member, *, store="antwerp", receipt="R-1", amount="250.00", **extra):
    data = {"store": store, "receipt_id": receipt, "amount": amount, "currency": "EUR"}
    data.update(extra)
    return client.post(member_url(member, "pos:sale"), data)


def return_post(client, member, *, store="antwerp", receipt="R-1", ret="RET-1", amount="100.00"):
    data = {"store": store, "receipt_id": receipt, "return_id": ret, "amount": amount}
    return client.post(member_url(member, "pos:return"), data)


def state(member):
    member.refresh_from_db()
    return (
        member.balance,
        member.purchase_count,
        Purchase.objects.count(),
        Return.objects.count(),
        LedgerEntry.objects.count(),
    )


# --- access ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [INDEX, "/pos/m/1234567897/"])
def test_anonymous_is_sent_to_the_pos_login(client, url):
    resp = client.get(url)
    assert resp.status_code == 302
    assert resp["Location"].startswith(reverse("pos:login") + "?next=")


@pytest.mark.django_db
def test_anonymous_post_records_nothing(client, member, antwerp):
    resp = sale_post(client, member)
    assert resp.status_code == 302
    assert resp["Location"].startswith(reverse("pos:login"))
    assert Purchase.objects.count() == 0


def test_login_page_logs_a_shop_assistant_in_to_the_till(client, assistant):
    page = client.get(reverse("pos:login"))
    assert page.status_code == 200
    assert b'name="username"' in page.content
    resp = client.post(
        reverse("pos:login"), {"username": "sam@carat.example", "password": "pw-for-tests-1"}
    )
    assert resp.status_code == 302
    assert resp["Location"] == INDEX
    assert client.get(INDEX).status_code == 200


def test_wrong_password_shows_an_error(client, assistant):
    resp = client.post(reverse("pos:login"), {"username": "sam@carat.example", "password": "no"})
    assert resp.status_code == 200
    assert b'role="alert"' in resp.content


def test_logout_returns_to_the_pos_login(till):
    resp = till.post(reverse("pos:logout"))
    assert resp.status_code == 302
    assert resp["Location"] == reverse("pos:login")
    assert till.get(INDEX).status_code == 302


@pytest.mark.django_db
def test_a_user_who_is_not_shop_staff_gets_a_clear_403(client, antwerp):
    user = UserFactory(email="member@example.com")
    client.force_login(user)
    resp = client.get(INDEX)
    assert resp.status_code == 403
    assert b"not a shop assistant" in resp.content
    assert client.post(reverse("pos:scan"), {"code": "1234567897"}).status_code == 403


@pytest.mark.django_db
def test_staff_of_a_closed_store_only_is_refused(client):
    closed = StoreFactory(code="closed", name="Closed", active=False)
    user = UserFactory(email="old@example.com")
    closed.staff.add(user)
    client.force_login(user)
    assert client.get(INDEX).status_code == 403


def test_console_staff_flag_alone_does_not_open_the_till(client, program):
    user = UserFactory(email="marketing@example.com", is_staff=True)
    client.force_login(user)
    assert client.get(INDEX).status_code == 403


def test_the_scan_page_has_the_scan_field_focused_and_the_camera_button(till):
    resp = till.get(INDEX)
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'id="id_code"' in html
    assert "autofocus" in html.split('id="id_code"')[1].split(">")[0]
    assert 'id="camera-start"' in html
    assert "vendor/html5-qrcode/html5-qrcode.min.js" in html
    assert "pos/pos.js" in html
    assert "<script>" not in html  # no inline scripts
    assert "Carat Antwerp" in html
    assert resp["Cache-Control"].startswith("max-age=0")


# --- stores ---------------------------------------------------------------------------------


def test_assistant_of_store_a_cannot_sell_for_store_b(till, member, london, gbp):
    before = state(member)
    resp = sale_post(till, member, store="london", currency="GBP")
    assert resp.status_code == 403
    assert b"not one of your stores" in resp.content
    assert state(member) == before


def test_assistant_of_store_a_cannot_return_for_store_b(till, member, london, gbp):
    purchase_record(
        member=member,
        channel="store",
        store=london,
        receipt_id="L-1",
        amount="100.00",
        currency="GBP",
    )
    before = state(member)
    resp = return_post(till, member, store="london", receipt="L-1", amount="10.00")
    assert resp.status_code == 403
    assert state(member) == before


def test_assistant_cannot_switch_to_someone_elses_store(till, london):
    resp = till.post(reverse("pos:store"), {"store": "london"})
    assert resp.status_code == 403
    assert till.session.get("pos_store") != "london"


def test_a_sale_of_another_store_is_not_shown_as_a_result(till, member, london, gbp):
    other = purchase_record(
        member=member,
        channel="store",
        store=london,
        receipt_id="L-SECRET",
        amount="100.00",
        currency="GBP",
    )
    resp = till.get(member_url(member), {"sale": other.purchase.pk})
    assert resp.status_code == 200
    assert b"L-SECRET" not in resp.content
    assert b"carats earned" not in resp.content


def test_assistant_of_two_stores_switches_and_sells_for_the_chosen_one(
    till, assistant, member, london, gbp
):
    london.staff.add(assistant)
    page = till.get(INDEX).content.decode()
    assert 'id="store-select"' in page
    assert till.post(reverse("pos:store"), {"store": "london"}).status_code == 302
    assert till.session["pos_store"] == "london"
    page = till.get(member_url(member)).content.decode()
    assert 'name="store" value="london"' in page
    assert '<option value="GBP" selected>' in page
    resp = sale_post(till, member, store="london", receipt="L-9", amount="100.00", currency="GBP")
    assert resp.status_code == 302
    purchase = Purchase.objects.get()
    assert purchase.store == london
    assert purchase.amount_eur == Decimal("117.00")


def test_store_is_forgotten_when_the_assistant_leaves_it(till, assistant, london):
    london.staff.add(assistant)
    till.post(reverse("pos:store"), {"store": "london"})
    london.staff.remove(assistant)
    page = till.get(INDEX).content.decode()
    assert "Carat Antwerp" in page
    assert till.session["pos_store"] == "antwerp"


# --- scanning -------------------------------------------------------------------------------


def test_scan_by_member_number_with_spaces_and_dashes(till, member):
    number = member.member_number
    typed = f"{number[:4]} {number[4:7]}-{number[7:]}"
    resp = till.post(reverse("pos:scan"), {"code": typed})
    assert resp.status_code == 302
    assert resp["Location"] == member_url(member)
    page = till.get(resp["Location"]).content.decode()
    assert "Ada Lovelace" in page
    assert 'id="tier">Radiant<' in page
    assert 'id="discount">5%<' in page
    assert 'id="balance">0<' in page
    assert "500 carats to Marquise" in page


def test_scan_by_qr_payload(till, member):
    resp = till.post(reverse("pos:scan"), {"code": member.qr_payload})
    assert resp.status_code == 302
    assert resp["Location"] == member_url(member)
    assert member.qr_token not in resp["Location"]  # the QR token never goes in a URL


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("CARAT1:unknown-token", "No member has this code."),
        ("1234567890", "not valid; check the digits"),
        ("hello", "No member has this code."),
        ("", "This field is required."),
    ],
)
def test_unknown_or_malformed_codes_are_a_clear_message(till, member, code, message):
    resp = till.post(reverse("pos:scan"), {"code": code})
    assert resp.status_code in (400, 404)
    assert message in resp.content.decode()
    assert 'aria-invalid="true"' in resp.content.decode()


def test_an_unknown_member_number_in_the_url_is_a_404_page(till):
    resp = till.get("/pos/m/1234567897/")
    assert resp.status_code == 404
    assert b"No member has this number." in resp.content


def test_member_names_are_html_escaped(till, program):
    evil = member_enroll(email="x@example.com", first_name="<script>alert(1)</script>")
    page = till.get(member_url(evil)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_hidden_ambassador_tier_is_shown_for_the_member_who_has_it(till, member, assistant):
    ambassador = Tier.objects.get(code="ambassador")
    Tier.objects.filter(code="ambassador").update(color="#1d1d1f")
    tier_invite(member=member, tier=ambassador, actor=assistant, note="creator")
    page = till.get(member_url(member)).content.decode()
    assert 'id="tier">Ambassador<' in page
    assert 'id="discount">20%<' in page
    assert "--tier-bg: #1d1d1f; --tier-fg: #ffffff" in page
    assert "Highest tier reached." in page


def test_hidden_tiers_are_not_listed_for_other_members(till, member, antwerp):
    purchase_record(
        member=member,
        channel="store",
        store=antwerp,
        receipt_id="E-1",
        amount="1600.00",
        currency="EUR",
    )
    page = till.get(member_url(member)).content.decode()
    assert 'id="tier">Emerald<' in page
    assert "Ambassador" not in page


def test_a_bad_tier_colour_does_not_reach_the_style_attribute(till, member):
    Tier.objects.filter(code="radiant").update(color="red;x")
    page = till.get(member_url(member)).content.decode()
    assert "red;x" not in page
    assert "--tier-bg: #8a8a8a; --tier-fg: #111111" in page


def test_birthday_this_month_is_judged_in_the_stores_time_zone(
    till, assistant, program, london, monkeypatch
):
    london.time_zone = "Europe/London"
    london.save()
    london.staff.add(assistant)
    # 31 January 23:30 UTC: already 1 February in Antwerp, still January in London.
    monkeypatch.setattr(
        "django.utils.timezone.now", lambda: datetime(2025, 1, 31, 23, 30, tzinfo=UTC)
    )
    feb = member_enroll(email="feb@example.com", first_name="Feb", birth_date=date(1990, 2, 10))
    assert b'id="birthday"' in till.get(member_url(feb)).content  # Antwerp: February
    till.post(reverse("pos:store"), {"store": "london"})
    assert b'id="birthday"' not in till.get(member_url(feb)).content  # London: January


def test_no_birthday_notice_outside_the_month(till, program):
    m = member_enroll(email="nobday@example.com", first_name="No")
    assert b'id="birthday"' not in till.get(member_url(m)).content


# --- sales ----------------------------------------------------------------------------------


def test_recording_a_sale_shows_carats_and_balance_and_is_refresh_safe(till, member, assistant):
    resp = sale_post(till, member, receipt="A-100", amount="250.00")
    assert resp.status_code == 302
    purchase = Purchase.objects.get()
    assert resp["Location"] == f"{member_url(member)}?sale={purchase.pk}"
    assert (purchase.store.code, purchase.recorded_by, purchase.client) == (
        "antwerp",
        assistant,
        "pos page",
    )
    page = till.get(resp["Location"]).content.decode()
    assert 'id="result-carats">+250<' in page
    assert 'id="result-balance">250<' in page
    assert "Already recorded" not in page
    # Reloading the result page records nothing.
    till.get(resp["Location"])
    assert Purchase.objects.count() == 1
    member.refresh_from_db()
    assert member.balance == 250
    assert_balance_matches_ledger(member)


def test_a_sale_in_gbp_with_comma_decimals_and_lines(till, member, gbp):
    resp = sale_post(
        till,
        member,
        receipt="G-1",
        amount="100,00",
        currency="gbp",
        line_0_sku="RING-1",
        line_0_category="rings",
        line_0_amount="60",
        line_1_sku="EAR-2",
        line_1_amount="40.00",
    )
    assert resp.status_code == 302
    purchase = Purchase.objects.get()
    assert (purchase.amount, purchase.currency, purchase.amount_eur) == (
        Decimal("100.00"),
        "GBP",
        Decimal("117.00"),
    )
    assert purchase.carats_awarded == 117
    assert sorted(purchase.lines.values_list("sku", "category", "amount")) == [
        ("EAR-2", "", Decimal("40.00")),
        ("RING-1", "rings", Decimal("60.00")),
    ]
    page = till.get(resp["Location"]).content.decode()
    assert "100.00 GBP" in page
    assert "= 117.00 EUR" in page


def test_a_sale_that_reaches_the_next_tier_says_upgraded(till, member):
    resp = sale_post(till, member, receipt="U-1", amount="600.00")
    page = till.get(resp["Location"]).content.decode()
    assert "Upgraded to Marquise!" in page
    assert 'id="tier">Marquise<' in page
    assert 'id="discount">10%<' in page
    assert member_tier(member).code == "marquise"


def test_submitting_the_same_sale_twice_records_it_once(till, member):
    first = sale_post(till, member, receipt="D-1", amount="250.00")
    again = sale_post(till, member, receipt="D-1", amount="250.00")
    assert Purchase.objects.count() == 1
    pk = Purchase.objects.get().pk
    assert first["Location"] == f"{member_url(member)}?sale={pk}"
    assert again["Location"] == f"{member_url(member)}?sale={pk}&again=1"
    page = till.get(again["Location"]).content.decode()
    assert "Already recorded" in page
    assert 'id="result-carats">+250<' in page
    member.refresh_from_db()
    assert member.balance == 250
    assert member.purchase_count == 1


def test_the_same_receipt_with_other_data_is_a_conflict_and_changes_nothing(till, member):
    sale_post(till, member, receipt="C-1", amount="250.00")
    before = state(member)
    resp = sale_post(till, member, receipt="C-1", amount="260.00")
    assert resp.status_code == 409
    assert "already recorded with different data" in resp.content.decode()
    assert "Nothing was recorded." in resp.content.decode()
    assert state(member) == before


def test_the_same_receipt_for_another_member_is_a_conflict(till, member, enroll):
    sale_post(till, member, receipt="C-2", amount="250.00")
    other = enroll(first_name="Bob")
    resp = sale_post(till, other, receipt="C-2", amount="250.00")
    assert resp.status_code == 409
    other.refresh_from_db()
    assert other.balance == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "abc"}, "Amount must be a decimal number"),
        ({"amount": "0"}, "Amount must be greater than zero."),
        ({"amount": "-5"}, "Amount must be greater than zero."),
        ({"amount": "1.234"}, "Amount has at most 2 decimals."),
        ({"amount": "NaN"}, "Amount must be a finite number."),
        ({"amount": ""}, "This field is required."),
        ({"currency": "XYZ"}, "Unknown currency: XYZ."),
        ({"currency": "EURO"}, "Ensure this value has at most 3 characters"),
        ({"receipt_id": ""}, "This field is required."),
        ({"line_0_amount": "10.00"}, "Item 1 needs a SKU."),
        ({"line_0_sku": "RING", "line_0_amount": "x"}, "Item 1 amount must be a decimal number"),
    ],
)
def test_bad_sales_are_refused_with_a_message_and_record_nothing(till, member, fields, message):
    before = state(member)
    resp = sale_post(till, member, receipt="B-1", **fields)
    assert resp.status_code in (400, 404, 409)
    html = resp.content.decode()
    assert message in html, html
    assert 'role="alert"' in html
    assert state(member) == before


def test_a_missing_rate_is_a_message_not_a_500(till, member):
    # A currency with rates only in the future has no rate valid today.
    from tests.factories import make_rate

    make_rate("CHF", "1.06", days_ago=-30)
    resp = sale_post(till, member, receipt="M-1", currency="CHF")
    assert resp.status_code == 400
    assert "No CHF exchange rate is valid" in resp.content.decode()
    assert Purchase.objects.count() == 0


def test_a_closed_store_cannot_record(till, assistant, member, antwerp):
    # The page was loaded while the store was open; it closes before the sale is sent.
    london = StoreFactory(code="london", name="Carat London", currency="EUR")
    london.staff.add(assistant)
    antwerp.active = False
    antwerp.save()
    resp = sale_post(till, member, store="antwerp")
    assert resp.status_code == 403
    assert Purchase.objects.count() == 0


# --- returns --------------------------------------------------------------------------------


def test_a_return_reverses_carats_in_proportion(till, member):
    sale_post(till, member, receipt="R-1", amount="250.00")
    resp = return_post(till, member, receipt="R-1", ret="RET-1", amount="100.00")
    assert resp.status_code == 302
    ret = Return.objects.get()
    assert resp["Location"] == f"{member_url(member)}?return={ret.pk}"
    page = till.get(resp["Location"]).content.decode()
    assert 'id="result-reversed">&minus;100<' in page
    assert 'id="result-balance">150<' in page
    member.refresh_from_db()
    assert member.balance == 150
    assert_balance_matches_ledger(member)


def test_submitting_the_same_return_twice_takes_back_once(till, member):
    sale_post(till, member, receipt="R-1", amount="250.00")
    return_post(till, member, receipt="R-1", ret="RET-1", amount="100.00")
    again = return_post(till, member, receipt="R-1", ret="RET-1", amount="100.00")
    assert again.status_code == 302
    assert again["Location"].endswith("&again=1")
    assert Return.objects.count() == 1
    assert "Already recorded" in till.get(again["Location"]).content.decode()
    member.refresh_from_db()
    assert member.balance == 150


@pytest.mark.parametrize(
    ("receipt", "amount", "message", "status"),
    [
        ("R-1", "300.00", "The return is larger than what is left on the sale (250.00 EUR).", 400),
        ("NOPE", "10.00", "No sale with this receipt id.", 404),
        ("R-1", "0", "Amount returned must be greater than zero.", 400),
        ("R-1", "ten", "Amount returned must be a decimal number", 400),
    ],
)
def test_bad_returns_are_refused_and_change_nothing(till, member, receipt, amount, message, status):
    sale_post(till, member, receipt="R-1", amount="250.00")
    before = state(member)
    resp = return_post(till, member, receipt=receipt, amount=amount)
    assert resp.status_code == status
    html = resp.content.decode()
    assert message in html
    assert '<details class="return-details" open>' in html
    assert state(member) == before


def test_a_return_with_a_reused_return_number_and_other_amount_is_a_conflict(till, member):
    sale_post(till, member, receipt="R-1", amount="250.00")
    return_post(till, member, receipt="R-1", ret="RET-1", amount="100.00")
    before = state(member)
    resp = return_post(till, member, receipt="R-1", ret="RET-1", amount="50.00")
    assert resp.status_code == 409
    assert "already recorded with different data" in resp.content.decode()
    assert state(member) == before


def test_a_return_on_the_wrong_members_page_is_refused(till, member, enroll):
    sale_post(till, member, receipt="R-1", amount="250.00")
    other = enroll(first_name="Bob")
    before = state(member)
    resp = return_post(till, other, receipt="R-1", amount="10.00")
    assert resp.status_code == 400
    assert "belongs to another member" in resp.content.decode()
    assert state(member) == before


# --- registering at the counter -------------------------------------------------------------


def test_register_a_new_member_at_the_counter(till, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resp = till.post(
            reverse("pos:register"),
            {"email": " New@Example.com ", "first_name": "Grace", "last_name": "Hopper"},
        )
    assert resp.status_code == 302
    member = Member.objects.get(email="new@example.com")
    assert resp["Location"] == f"{member_url(member)}?new=1"
    assert member.source == Member.Source.STORE
    assert member_tier(member).code == "radiant"
    user = User.objects.get(email="new@example.com")
    assert member.user == user and not user.is_active
    assert len(callbacks) == 1  # the invitation is queued after commit
    assert [m.to for m in mail.outbox] == [["new@example.com"]]
    page = till.get(resp["Location"]).content.decode()
    assert "Welcome to the club, Grace!" in page
    assert "Grace Hopper" in page
    assert 'id="discount">5%<' in page


def test_registration_asks_the_members_language_and_starts_from_the_pages(till):
    page = till.get(INDEX, HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert '<option value="nl" selected>' in page
    till.post(
        reverse("pos:register"),
        {"email": "fr@example.com", "first_name": "Lou", "last_name": "V", "language": "fr"},
    )
    assert Member.objects.get(email="fr@example.com").language == "fr"
    till.post(
        reverse("pos:register"),
        {"email": "nl@example.com", "first_name": "An", "last_name": "P"},
        HTTP_ACCEPT_LANGUAGE="nl",
    )
    assert Member.objects.get(email="nl@example.com").language == "nl"
    resp = till.post(
        reverse("pos:register"),
        {"email": "xx@example.com", "first_name": "X", "last_name": "Y", "language": "xx"},
    )
    assert resp.status_code == 400 and not Member.objects.filter(email="xx@example.com").exists()


def test_registering_an_existing_email_is_refused_and_creates_nothing(till, member):
    members, users = Member.objects.count(), User.objects.count()
    resp = till.post(
        reverse("pos:register"),
        {"email": "ada@example.com", "first_name": "Ada", "last_name": "Again"},
    )
    assert resp.status_code == 409
    html = resp.content.decode()
    assert "A member with this e-mail already exists." in html
    assert '<details class="register-details" open>' in html
    assert (Member.objects.count(), User.objects.count()) == (members, users)


@pytest.mark.parametrize(
    "data",
    [
        {"email": "not-an-email", "first_name": "A", "last_name": "B"},
        {"email": "ok@example.com", "first_name": "", "last_name": "B"},
    ],
)
def test_registration_form_errors(till, data):
    resp = till.post(reverse("pos:register"), data)
    assert resp.status_code == 400
    assert 'role="alert"' in resp.content.decode()
    assert Member.objects.count() == 0


def test_get_on_action_urls_is_not_allowed(till, member):
    assert till.get(member_url(member, "pos:sale")).status_code == 405
    assert till.get(reverse("pos:scan")).status_code == 405


# --- carats not on the balance yet ------------------------------------------------------------


def test_a_sale_inside_the_return_window_shows_pending_carats(till, member):
    from campaigns.models import Program

    Program.objects.update(pending_days=14)
    resp = sale_post(till, member, receipt="P-1", amount="200.00")
    page = till.get(resp["Location"]).content.decode()
    assert 'id="result-carats">+200<' in page
    assert "Pending: these carats reach the balance" in page
    assert 'id="result-balance">0<' in page
    assert 'id="pending">+200<' in page
    # A return inside the window cancels pending carats; the balance is untouched.
    resp = return_post(till, member, receipt="P-1", ret="RET-P", amount="50.00")
    page = till.get(resp["Location"]).content.decode()
    assert 'id="result-reversed">&minus;50<' in page
    assert "50 pending carats were cancelled" in page
    assert 'id="pending">+150<' in page
    member.refresh_from_db()
    assert member.balance == 0


def test_a_sale_held_by_the_velocity_check_says_so(till, member):
    from campaigns.models import Program

    Program.objects.update(max_store_sales_per_day=1)
    sale_post(till, member, receipt="V-1", amount="100.00")
    resp = sale_post(till, member, receipt="V-2", amount="100.00")
    page = till.get(resp["Location"]).content.decode()
    assert "Held for review" in page
    assert 'id="result-balance">100<' in page
