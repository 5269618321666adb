"""Clienteling in the real Chromium, on a tablet in landscape (1024x768) and portrait
(768x1024): find a client by name, a duplicate registration linked to the member, a sale
with its carats explained, the client book (a note, a preference, a wish), an appointment
in the day view, the outreach list with an anniversary in 10 days."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import EarningRule
from campaigns.services import member_enroll
from members.models import Member
from pos.clienteling.models import Appointment, StoreClient
from tests.browser import TABLET, screenshot
from tests.factories import StoreFactory, UserFactory, make_program
from tests.test_pos_browser import assert_nothing_cut_off, focused_id, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PORTRAIT = {"width": 768, "height": 1024}
SIZES = [("landscape", TABLET), ("portrait", PORTRAIT)]


@pytest.fixture
def boutique():
    make_program()
    store = StoreFactory(code="antwerp", name="Carat Antwerp", city="Antwerp")
    sam = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    store.staff.add(sam)
    today = timezone.localdate()
    in_ten = today + timedelta(days=10)
    chloe = member_enroll(
        email="chloe.dupre@example.com",
        first_name="Chloé",
        last_name="Dupré",
        phone="+32 470 11 22 33",
    )
    Member.objects.filter(pk=chloe.pk).update(
        wedding_anniversary=date(2012, in_ten.month, min(in_ten.day, 28))
    )
    StoreClient.objects.create(store=store, member=chloe, reason="registered")
    EarningRule.objects.create(
        name="Second sparkle",
        multiplier=Decimal("2"),
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=7),
    )
    return {"store": store, "sam": sam, "chloe": chloe}


def shot(page, name):
    screenshot(page, name)
    assert_nothing_cut_off(page)


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_find_sell_and_keep_the_client_book(live_server, page_factory, boutique, size, viewport):
    chloe = boutique["chloe"]
    page = page_factory(viewport)
    login(page, live_server.url)

    # Search by name, without the accent and in lower case.
    page.fill("#client-q", "dupre")
    shot(page, f"cl-{size}-search-typed")
    page.press("#client-q", "Enter")
    page.wait_for_selector("#client-results")
    shot(page, f"cl-{size}-search-results")
    page.get_by_role("link", name=re.compile("Chloé Dupré")).first.click()
    page.wait_for_url(re.compile(rf"/pos/m/{chloe.member_number}/$"))

    # The quicker sale: the cursor is in Amount, Enter goes to Receipt, Enter records.
    assert focused_id(page) == "id_amount"
    page.keyboard.type("250")
    page.keyboard.press("Enter")
    assert focused_id(page) == "id_receipt_id"
    page.keyboard.type("A-2001")
    page.keyboard.press("Enter")
    page.wait_for_selector("#carat-parts")
    parts = page.locator("#carat-parts").inner_text()
    assert parts.startswith("+500 = 250 base + 250 Second sparkle"), parts
    shot(page, f"cl-{size}-sale-explained")
    # The sale is one tap from its return.
    page.locator(".r-return").first.click()
    page.wait_for_url(re.compile(r"return_of=A-2001"))
    assert page.locator("#return-form #id_receipt_id").input_value() == "A-2001"
    assert focused_id(page) == "id_return_id"
    shot(page, f"cl-{size}-return-ready")

    # The client book: a note, a preference, a wish.
    page.click("#client-book")
    page.wait_for_selector("#book-title")
    page.fill("#id_text", "Looking for a gift for her 15th anniversary; loves emeralds.")
    page.click("#add-note")
    page.wait_for_selector("#saved")
    assert "15th anniversary" in page.locator("#note-list").inner_text()
    page.fill("#id_ring_size", "52")
    page.fill("#id_stones", "Emerald")
    page.click("#save-profile")
    page.wait_for_selector("#pref-list")
    assert "52" in page.locator("#pref-list").inner_text()
    page.fill("#id_description", "Emerald eternity ring")
    page.click("#add-wish")
    page.wait_for_selector("#wish-list >> text=Emerald eternity ring")
    shot(page, f"cl-{size}-client-book")

    # An appointment, shown in the day view.
    page.click("#appt-title")
    day = (timezone.localdate() + timedelta(days=2)).isoformat()
    page.fill("#id_day", day)
    page.select_option("#id_time", "14:30")
    page.select_option("#id_purpose", "viewing")
    shot(page, f"cl-{size}-appointment-form")
    page.click("#book-appointment")
    page.wait_for_selector("#booked")
    assert "14:30" in page.locator("#day-list").inner_text()
    assert "Chloé Dupré" in page.locator("#day-list").inner_text()
    assert Appointment.objects.filter(member=chloe).count() == 1
    shot(page, f"cl-{size}-day-view")

    # The outreach list: her anniversary in 10 days.
    page.click("#nav-outreach")
    page.wait_for_selector("#occasions")
    occasions = page.locator("#occasions").inner_text()
    assert "Chloé Dupré" in occasions and "Wedding anniversary" in occasions
    shot(page, f"cl-{size}-outreach")


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_a_duplicate_registration_is_linked_to_the_member(
    live_server, page_factory, boutique, size, viewport
):
    chloe = boutique["chloe"]
    page = page_factory(viewport)
    login(page, live_server.url)
    page.click("#register-title")
    page.fill("#id_email", "someone.new@example.com")
    page.fill("#id_first_name", "Chloe")
    page.fill("#id_last_name", "Dupre")
    page.fill("#id_phone", "+32470112233")
    page.click("#register")
    page.wait_for_selector("#duplicates")
    assert "Chloé Dupré" in page.locator("#duplicates").inner_text()
    # The way forward has the focus: Enter uses the existing member.
    assert page.evaluate("document.activeElement.classList.contains('use-member')")
    shot(page, f"cl-{size}-duplicate")
    page.locator("#duplicates .use-member").first.click()
    page.wait_for_url(re.compile(rf"/pos/m/{chloe.member_number}/$"))
    assert page.locator("#member-name").inner_text() == "Chloé Dupré"
    assert not Member.objects.filter(email="someone.new@example.com").exists()


@pytest.mark.parametrize(("size", "viewport"), SIZES)
def test_a_redemption_confirmed_on_the_clients_phone(
    live_server, page_factory, boutique, size, viewport
):
    from campaigns.models import Reward
    from members.models import User
    from members.services import ledger_post
    from tests.browser import PHONE

    chloe = boutique["chloe"]
    user = User.objects.create_user(email=chloe.email, password="sparkle-2026!")
    Member.objects.filter(pk=chloe.pk).update(user=user)
    ledger_post(member=chloe, carats=300, kind="bonus", reason="x", key="fund")
    Reward.objects.create(
        name="Gift wrap",
        kind="amount",
        cost_carats=100,
        value=Decimal("10"),
        starts_at=timezone.now() - timedelta(days=1),
    )
    phone = page_factory(PHONE)
    phone.goto(f"{live_server.url}/account/login/")
    phone.fill("#id_username", chloe.email)
    phone.fill("#id_password", "sparkle-2026!")
    phone.click("button[type=submit]")
    phone.wait_for_selector("#member-qr")

    till = page_factory(viewport)
    login(till, live_server.url)
    till.goto(f"{live_server.url}/pos/m/{chloe.member_number}/")
    till.click("#redeem-reward")
    till.wait_for_selector("#phone-wait")
    shot(till, f"cl-{size}-waiting-for-phone")
    phone.wait_for_selector("#till-confirm:not([hidden])", timeout=15_000)
    assert "balance after: 200" in phone.locator("#till-confirm").inner_text()
    screenshot(phone, f"cl-{size}-phone-confirm")
    phone.click("#till-confirm-yes")
    till.wait_for_selector("#voucher-result", timeout=15_000)
    assert "Gift wrap" in till.locator("#voucher-result").inner_text()
    chloe.refresh_from_db()
    assert chloe.balance == 200
