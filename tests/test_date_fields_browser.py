"""Every date field of the client book (POS) and of the console's member form keeps its
date when the form is saved untouched, in English, Dutch and French (a date input that
shows the locale's format, not the picker's, once posted dates empty and erased them).

Staff pages speak the browser's language (LocaleMiddleware reads Accept-Language; staff
logins have no language of their own), so each test opens a browser set to en-GB, nl-BE
or fr-BE. The member's own profile page is tests/test_profile_dates_browser.py."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.services import member_enroll
from members.models import Member
from pos.clienteling import services as book
from pos.clienteling.models import Appointment, ClientNote, ClientProfile, StoreClient
from tests.browser import TABLET, screenshot
from tests.factories import StoreFactory, UserFactory, make_program
from tests.test_pos_browser import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCALES = {"en": "en-GB", "nl": "nl-BE", "fr": "fr-BE"}
BIRTH = date(1990, 12, 31)
WEDDING = date(2015, 6, 20)
PARTNER = date(1988, 3, 7)


def staff_page(chromium, language, viewport=TABLET):
    context = chromium.new_context(viewport=viewport, locale=LOCALES[language])
    context.set_default_timeout(10_000)
    return context.new_page()


@pytest.fixture
def boutique():
    make_program()
    store = StoreFactory(code="antwerp", name="Carat Antwerp", city="Antwerp")
    sam = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    store.staff.add(sam)
    chloe = member_enroll(email="chloe.dupre@example.com", first_name="Chloé", last_name="Dupré")
    Member.objects.filter(pk=chloe.pk).update(birth_date=BIRTH, wedding_anniversary=WEDDING)
    StoreClient.objects.create(store=store, member=chloe, reason="registered")
    book.client_profile_update(
        member=chloe, actor=sam, partner_name="Marc", partner_birthday=PARTNER, ring_size="52"
    )
    return {"store": store, "sam": sam, "chloe": chloe}


@pytest.mark.parametrize("language", list(LOCALES))
def test_the_client_book_keeps_its_dates(live_server, chromium, boutique, language):
    chloe = boutique["chloe"]
    page = staff_page(chromium, language)
    try:
        page.goto(f"{live_server.url}/pos/login/")
        page.fill("#id_username", "sam@carat.example")
        page.fill("#id_password", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url(re.compile(r"/pos/$"))
        page.goto(f"{live_server.url}/pos/m/{chloe.member_number}/book/")
        page.wait_for_selector("#book-title")
        assert page.locator("html").get_attribute("lang") == language

        # The preferences, saved untouched: the partner's birthday stays.
        page.click("#prefs-title")
        assert page.input_value("#id_partner_birthday") == PARTNER.isoformat()
        screenshot(page, f"dates-pos-book-{language}")
        page.click("#save-profile")
        page.wait_for_url(re.compile(r"saved=profile"))
        profile = ClientProfile.objects.get(member=chloe)
        assert profile.partner_birthday == PARTNER
        assert profile.ring_size == "52"
        assert page.input_value("#id_partner_birthday") == PARTNER.isoformat()

        # A note with a follow-up date picked in the date picker keeps that date.
        follow_up = timezone.localdate() + timedelta(days=14)
        page.fill("#id_text", "Asked about an emerald pendant.")
        page.fill("#id_follow_up_on", follow_up.isoformat())
        page.click("#add-note")
        page.wait_for_url(re.compile(r"saved=note"))
        assert ClientNote.objects.get(member=chloe).follow_up_on == follow_up

        # The appointment form opens on today's date, which the picker shows.
        page.click("#appt-title")
        assert page.input_value("#id_day") == timezone.localdate().isoformat()
        day = timezone.localdate() + timedelta(days=3)
        page.fill("#id_day", day.isoformat())
        page.select_option("#id_time", "11:00")
        screenshot(page, f"dates-pos-appointment-{language}")
        page.click("#book-appointment")
        page.wait_for_url(re.compile(rf"/pos/day/\?date={day.isoformat()}"))
        screenshot(page, f"dates-pos-day-{language}")
        appointment = Appointment.objects.get(member=chloe)
        zone = ZoneInfo(boutique["store"].time_zone)
        assert timezone.localtime(appointment.starts_at, zone) == datetime(
            day.year, day.month, day.day, 11, 0, tzinfo=zone
        )

        # The member's own dates were never on these forms and are still there.
        chloe.refresh_from_db()
        assert (chloe.birth_date, chloe.wedding_anniversary) == (BIRTH, WEDDING)
    finally:
        page.context.close()


@pytest.mark.parametrize("language", list(LOCALES))
def test_the_console_member_form_keeps_its_dates(live_server, chromium, console_user, language):
    make_program()
    console_user("Marketing", email="marketing@carat.example")
    member = member_enroll(email="mira.claes@example.com", first_name="Mira", last_name="Claes")
    Member.objects.filter(pk=member.pk).update(birth_date=BIRTH, wedding_anniversary=WEDDING)
    joined_at = Member.objects.get(pk=member.pk).joined_at

    page = staff_page(chromium, language, viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "marketing@carat.example")
        page.fill("#id_password", "x-12345678")
        page.click("input[type=submit]")
        page.wait_for_url(re.compile(r"/admin/$"))
        # The member 360 opens on its summary; the edit form is its last tab.
        page.goto(f"{live_server.url}/admin/members/member/{member.pk}/change/#tab-profile")
        assert page.locator("html").get_attribute("lang") == language
        # The console's date fields show the dates (in the language's format).
        shown = page.input_value("#id_birth_date")
        assert shown and "31" in shown and "12" in shown and "1990" in shown, shown
        assert page.input_value("#id_wedding_anniversary")
        screenshot(page, f"dates-console-member-{language}")
        page.click("input[name=_continue]")
        page.wait_for_selector(".messagelist .success")
        screenshot(page, f"dates-console-member-saved-{language}")

        member.refresh_from_db()
        assert member.birth_date == BIRTH
        assert member.wedding_anniversary == WEDDING
        # The join date and time (a date and a time field) keeps its day and second.
        assert member.joined_at.replace(microsecond=0) == joined_at.replace(microsecond=0)
    finally:
        page.context.close()
