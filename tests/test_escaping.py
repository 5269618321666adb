"""Hostile input: HTML and script in names and other client-supplied strings are rendered
escaped on every surface (member account, POS page, CRM console, trigger e-mails) and
round-trip unchanged through the JSON API; oversized payloads to the API are a 4xx JSON
error, never a 500, and write nothing."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Award, MessageLog, Reward, TriggerConfig, Voucher
from campaigns.services import member_enroll
from campaigns.services.crm import render_message
from members.models import ConsentChange, LedgerEntry, Member, User
from members.services import ledger_post
from pos.models import Purchase, PurchaseLine, Return
from pos.services import api_key_create, purchase_record
from tests.factories import UserFactory

SCRIPT = "<script>alert(1)</script>"
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
UNICODE = "Zoë 🦄 Ünïcödé"
# Breaks out of an attribute if a template forgot to escape quotes.
ATTR = "\"'><img src=x onerror=alert(2)>"
ATTR_RAW_TAG = "<img src=x onerror=alert(2)>"
RECEIPT = "<svg onload=alert(3)>"  # a client's receipt id ends up in the ledger reason


def assert_escaped(html: str, *, raw_tags=(SCRIPT,), escaped=(SCRIPT_ESCAPED,), plain=()):
    for tag in raw_tags:
        assert tag not in html, f"unescaped {tag!r}"
    for text in escaped:
        assert text in html, f"missing escaped {text!r}"
    for text in plain:
        assert text in html, f"missing {text!r}"


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Idempotency records and throttle counters live in the cache."""


@pytest.fixture
def hostile(program, antwerp):
    """A member whose names are hostile, referred by another such member, with a sale
    whose receipt id is hostile, and a reward whose name is hostile."""
    user = User.objects.create_user(email="hostile@example.com", password="pw-12345-abc")
    referrer = member_enroll(email="ref@example.com", first_name=SCRIPT, last_name="Referrer")
    member = member_enroll(
        email="hostile@example.com",
        first_name=SCRIPT,
        last_name=UNICODE,
        user=user,
        referral_code=referrer.referral_code,
    )
    purchase_record(
        member=member,
        channel="store",
        store=antwerp,
        receipt_id=RECEIPT,
        amount="120.00",
        currency="EUR",
    )
    Reward.objects.create(
        name=ATTR,
        kind="amount",
        cost_carats=10,
        value=Decimal("5"),
        starts_at=timezone.now() - timedelta(days=1),
    )
    member.refresh_from_db()
    return member


# --- the member account ---------------------------------------------------------------------


def test_account_pages_escape_the_names_receipts_and_rewards(client, hostile):
    client.force_login(hostile.user)
    home = client.get(reverse("members:home")).content.decode()
    assert_escaped(home, plain=(UNICODE,) if UNICODE in home else ())
    assert "<svg onload" not in home
    history = client.get(reverse("members:history")).content.decode()
    assert "<svg onload" not in history
    assert "alert(3)" not in history  # the receipt number is the console's, never shown
    profile = client.get(reverse("members:profile")).content.decode()
    assert_escaped(profile, plain=(UNICODE,))
    rewards = client.get(reverse("members:rewards")).content.decode()
    assert ATTR_RAW_TAG not in rewards
    assert "&lt;img src=x onerror=alert(2)&gt;" in rewards


# --- the POS page ---------------------------------------------------------------------------


def test_pos_member_page_escapes_the_names_receipts_and_rewards(client, hostile, antwerp):
    user = UserFactory(email="till@carat.example")
    antwerp.staff.add(user)
    client.force_login(user)
    # Enough carats for the hostile reward to be offered at the counter.
    ledger_post(member=hostile, carats=50, kind="bonus", reason="x", key="esc:fund")
    page = client.get(reverse("pos:member", args=[hostile.member_number])).content.decode()
    assert_escaped(page, plain=(UNICODE,))
    assert "<svg onload" not in page
    assert ATTR_RAW_TAG not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    # Registered at the counter with a hostile name, then shown.
    response = client.post(
        reverse("pos:register"),
        {"email": "walkin@example.com", "first_name": SCRIPT, "last_name": ATTR},
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert_escaped(page)
    assert ATTR_RAW_TAG not in page


# --- the CRM console ------------------------------------------------------------------------


def test_console_member_list_and_change_page_escape_the_names(client, marketing, hostile):
    listing = client.get(reverse("admin:members_member_changelist")).content.decode()
    assert_escaped(listing, plain=(UNICODE,))
    change = client.get(reverse("admin:members_member_change", args=[hostile.pk])).content.decode()
    # The name in the title, the form fields, the "referred by" link, the ledger inline
    # (whose reason carries the client's receipt id) and the returns overview.
    assert_escaped(change, plain=(UNICODE,))
    assert "<svg onload" not in change
    referrer = Member.objects.get(email="ref@example.com")
    change = client.get(reverse("admin:members_member_change", args=[referrer.pk])).content.decode()
    assert_escaped(change)
    ledger = client.get(reverse("admin:members_ledgerentry_changelist")).content.decode()
    assert SCRIPT not in ledger
    assert "<svg onload" not in ledger


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
def api(db):
    _key, plain = api_key_create(name="web shop")
    client = Client(headers={"Authorization": f"Api-Key {plain}"})
    client.raise_request_exception = False
    return client


def post_json(client, path, body, **extra):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, raw, content_type="application/json", **extra)


def test_api_round_trips_hostile_and_unicode_strings_unchanged(api, program, antwerp):
    response = post_json(
        api,
        "/api/v1/members/",
        {
            "email": "zoe@example.com",
            "first_name": SCRIPT,
            "last_name": UNICODE,
            "external_id": ATTR[:64],
        },
    )
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"
    body = response.json()
    assert (body["first_name"], body["last_name"], body["external_id"]) == (
        SCRIPT,
        UNICODE,
        ATTR[:64],
    )
    member = Member.objects.get(email="zoe@example.com")
    assert (member.first_name, member.last_name) == (SCRIPT, UNICODE)
    detail = api.get(f"/api/v1/members/{member.member_number}/").json()
    assert (detail["first_name"], detail["last_name"]) == (SCRIPT, UNICODE)
    sale = post_json(
        api,
        "/api/v1/purchases/",
        {
            "member": member.member_number,
            "store": "antwerp",
            "receipt_id": RECEIPT,
            "amount": "10.00",
            "currency": "EUR",
        },
    )
    assert sale.status_code == 201
    assert sale.json()["receipt_id"] == RECEIPT
    ledger = api.get(f"/api/v1/members/{member.member_number}/ledger/").json()
    assert any(RECEIPT in e["reason"] for e in ledger["results"])
    found = api.get(f"/api/v1/members/by-external-id/{ATTR[:64]}/")
    assert found.status_code in (200, 404)  # a path with quotes and <>: never a 500


# --- trigger e-mails ------------------------------------------------------------------------


def test_trigger_email_html_escapes_the_member_name(hostile):
    TriggerConfig.objects.create(
        trigger="welcome",
        subject_en="Welcome {{ member.first_name }}",
        body_en="Dear {{ member.first_name }} {{ member.last_name }},\n\n"
        "Your balance: {{ balance }}. See https://carat.example/club",
    )
    log = MessageLog.objects.create(member=hostile, trigger="welcome", occasion="esc")
    _subject, text, html = render_message(log)
    assert SCRIPT in text  # the text part is plain text
    assert_escaped(html, plain=(UNICODE,))
    assert "<a href=" in html  # links are still wrapped for tracking


def test_basket_email_html_escapes_the_basket_line_names(hostile):
    TriggerConfig.objects.create(
        trigger="cart_abandoned",
        subject_en="Your basket",
        body_en="Hello {{ member.first_name }}: {{ basket }}",
    )
    log = MessageLog.objects.create(
        member=hostile,
        trigger="cart_abandoned",
        occasion="cart:esc",
        context={"lines": [{"sku": "S-1", "name": ATTR_RAW_TAG}]},
    )
    _subject, _text, html = render_message(log)
    assert_escaped(html)
    assert ATTR_RAW_TAG not in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


# --- oversized payloads ---------------------------------------------------------------------


def state():
    return (
        Member.objects.count(),
        LedgerEntry.objects.count(),
        Purchase.objects.count(),
        PurchaseLine.objects.count(),
        Return.objects.count(),
        Award.objects.count(),
        MessageLog.objects.count(),
        Voucher.objects.count(),
        ConsentChange.objects.count(),
    )


def assert_json_4xx(response):
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


@pytest.fixture
def shopper(program, antwerp):
    return member_enroll(email="shopper@example.com", first_name="Shop")


def sale(member, /, **changes):
    body = {
        "member": member.member_number,
        "store": "antwerp",
        "receipt_id": "BIG-1",
        "amount": "100.00",
        "currency": "EUR",
    }
    body.update(changes)
    return body


def test_a_2_mb_json_body_is_a_4xx_json_and_writes_nothing(api, shopper):
    before = state()
    # 2 MB in an unknown field, and 2 MB in a known one.
    assert_json_4xx(post_json(api, "/api/v1/purchases/", sale(shopper, note="x" * 2_000_000)))
    assert_json_4xx(post_json(api, "/api/v1/purchases/", sale(shopper, receipt_id="x" * 2_000_000)))
    assert_json_4xx(
        post_json(
            api, "/api/v1/members/", {"email": "big@example.com", "first_name": "y" * 2_000_000}
        )
    )
    assert state() == before


def test_10000_lines_are_a_4xx_json_and_write_nothing(api, shopper):
    before = state()
    lines = [{"sku": f"S{i}", "amount": "0.01"} for i in range(10_000)]
    error = assert_json_4xx(post_json(api, "/api/v1/purchases/", sale(shopper, lines=lines)))
    assert "lines" in error.get("fields", {})
    basket = [{"sku": f"S{i}", "name": "n"} for i in range(10_000)]
    assert_json_4xx(
        post_json(
            api,
            "/api/v1/events/",
            {
                "member": shopper.member_number,
                "type": "cart_abandoned",
                "reference": "B1",
                "lines": basket,
            },
        )
    )
    assert state() == before


def test_100_kb_strings_are_a_4xx_json_and_write_nothing(api, shopper):
    before = state()
    big = "r" * 100_000
    assert_json_4xx(
        post_json(
            api,
            "/api/v1/events/",
            {"member": shopper.member_number, "type": "review", "reference": big},
        )
    )
    assert_json_4xx(post_json(api, "/api/v1/purchases/", sale(shopper, receipt_id=big)))
    assert_json_4xx(post_json(api, "/api/v1/purchases/", sale(shopper, member=big)))
    assert_json_4xx(
        post_json(
            api,
            "/api/v1/returns/",
            {"store": "antwerp", "receipt_id": "R", "return_id": big, "amount": "1.00"},
        )
    )
    assert_json_4xx(api.get("/api/v1/members/lookup/", {"code": big}))
    assert_json_4xx(api.get(f"/api/v1/members/by-external-id/{big}/"))
    assert_json_4xx(api.get(f"/api/v1/vouchers/{big}/"))
    assert_json_4xx(
        post_json(
            api, "/api/v1/members/", {"email": "k@example.com"}, headers={"Idempotency-Key": big}
        )
    )
    assert state() == before


def test_many_unknown_fields_are_a_4xx_json(api, shopper):
    before = state()
    body = sale(shopper, **{f"f{i}": i for i in range(10_000)})
    assert_json_4xx(post_json(api, "/api/v1/purchases/", body))
    assert state() == before


def test_a_5_mb_json_body_is_a_4xx_json(api, shopper):
    before = state()
    assert_json_4xx(post_json(api, "/api/v1/purchases/", sale(shopper, note="x" * 5_000_000)))
    assert state() == before


def test_deeply_nested_json_is_a_4xx_json(api, shopper):
    before = state()
    assert_json_4xx(post_json(api, "/api/v1/purchases/", "[" * 100_000 + "]" * 100_000))
    assert state() == before


@pytest.mark.parametrize("amount", ["1e30", "1E+99", "9e999999"])
def test_the_pos_forms_refuse_huge_amounts_with_a_4xx(client, shopper, antwerp, amount):
    user = UserFactory(email="till2@carat.example")
    antwerp.staff.add(user)
    client.force_login(user)
    client.raise_request_exception = False
    purchase_record(
        member=shopper,
        channel="store",
        store=antwerp,
        receipt_id="OK-1",
        amount="50.00",
        currency="EUR",
    )
    before = state()
    response = client.post(
        reverse("pos:sale", args=[shopper.member_number]),
        {"store": "antwerp", "receipt_id": "HUGE", "amount": amount, "currency": "EUR"},
    )
    assert 400 <= response.status_code < 500, response.status_code
    response = client.post(
        reverse("pos:return", args=[shopper.member_number]),
        {"store": "antwerp", "receipt_id": "OK-1", "return_id": "HUGE", "amount": amount},
    )
    assert 400 <= response.status_code < 500, response.status_code
    assert state() == before
