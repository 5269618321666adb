"""Joining at the counter on the client's own phone, in the real Chromium with two
browsers: the shop assistant's tablet (1024x768) shows the store's join code; the
client's phone (390x844), in English, Dutch or French, reads the code, joins, confirms
the address and the news from the mails; the tablet sees the new member appear without
reloading and records their sale. Screenshots in test-artifacts/."""

import re
from io import BytesIO

import pytest
from django.core import mail

from members.models import ConsentChange, Member
from pos.models import CounterJoin, Purchase
from tests.browser import ARGS, PHONE, TABLET, screenshot  # noqa: F401
from tests.factories import StoreFactory, UserFactory, make_program
from tests.test_member_languages import english_sources
from tests.test_pos_browser import DEMO_COLORS, assert_nothing_cut_off, login
from tiers.models import Tier

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCALES = {"en": "en-GB", "nl": "nl-BE", "fr": "fr-BE"}
THANKS = {"en": "Thank you", "nl": "Dank je", "fr": "Merci"}


@pytest.fixture
def boutique(settings, live_server):
    # The join code and the mails link to the server the phone reaches.
    settings.CARAT_SITE_URL = live_server.url
    make_program()
    for code, color in DEMO_COLORS.items():
        Tier.objects.filter(code=code).update(color=color)
    antwerp = StoreFactory(code="antwerp", name="Carat Antwerp")
    sam = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    antwerp.staff.add(sam)
    return {"store": antwerp, "assistant": sam}


def _context(chromium, viewport, locale):
    context = chromium.new_context(viewport=viewport, locale=locale)
    context.set_default_timeout(15_000)
    return context


def decode_qr(png: bytes) -> str:
    """The text of the one QR code in a screenshot, as a phone's camera would read it."""
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(Image.open(BytesIO(png)).convert("RGB"))
    assert len(found) == 1, f"{len(found)} codes found in the screenshot"
    return found[0].text


def _link(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_a_client_joins_on_their_phone_and_the_assistant_records_the_sale(
    chromium, live_server, boutique, language
):
    tablet_ctx = _context(chromium, TABLET, "en-GB")
    phone_ctx = _context(chromium, PHONE, LOCALES[language])
    try:
        tablet, phone = tablet_ctx.new_page(), phone_ctx.new_page()
        login(tablet, live_server.url)

        # The tablet shows the store's join code; the phone's camera reads it.
        code = tablet.locator("#join-qr img")
        code.scroll_into_view_if_needed()
        assert tablet.locator("#joined-empty").is_visible()
        screenshot(tablet, f"join-{language}-tablet-code")
        assert_nothing_cut_off(tablet)
        url = decode_qr(code.screenshot())
        assert url == code.get_attribute("data-join-url")
        assert url.startswith(live_server.url + "/account/join/here/")

        # The phone: the sign-up in the client's language, with the boutique's welcome.
        phone.goto(url)
        assert phone.locator("html").get_attribute("lang") == language
        assert "Carat Antwerp" in phone.locator("#join-store").text_content()
        screenshot(phone, f"join-{language}-phone-form")
        assert_nothing_cut_off(phone)
        if language != "en":
            text = phone.inner_text("body")
            english = sorted(s for s in english_sources(language) if s in text)
            assert not english, english
        phone.fill("#id_first_name", "Zoé")
        phone.fill("#id_last_name", "Peeters")
        phone.fill("#id_email", "zoe@example.com")
        phone.fill("#id_password", "sparkle-2026!")
        phone.check("#id_email_opt_in")
        phone.locator("form:has(#id_email) button[type=submit]").click()
        phone.wait_for_selector("#show-associate")
        assert THANKS[language] in phone.locator("#show-associate").inner_text()
        assert phone.locator("#consent-pending").is_visible()
        screenshot(phone, f"join-{language}-phone-done")
        assert_nothing_cut_off(phone)

        member = Member.objects.get(email="zoe@example.com")
        assert (member.language, member.email_opt_in) == (language, False)
        join = CounterJoin.objects.get(member=member)
        assert (join.store, join.associate) == (boutique["store"], boutique["assistant"])

        # The mails: the address first (opens the card), then the news (double opt-in).
        verify, consent = mail.outbox
        assert verify.to == consent.to == ["zoe@example.com"]
        phone.goto(_link(verify))
        phone.wait_for_selector("#member-qr")
        assert phone.locator("html").get_attribute("lang") == language
        phone.goto(_link(consent))
        member.refresh_from_db()
        assert not member.email_opt_in  # opening the link alone consents to nothing
        screenshot(phone, f"join-{language}-phone-consent")
        phone.click("#consent-yes")
        phone.wait_for_selector("#consent-done")
        screenshot(phone, f"join-{language}-phone-consented")
        member.refresh_from_db()
        assert member.email_opt_in
        assert ConsentChange.objects.get(member=member).source == "double opt-in"

        # The tablet sees the new member appear (no reload) and records the sale.
        item = tablet.locator(f'.joined-item[data-member="{member.member_number}"]')
        item.wait_for()
        assert "Zoé Peeters" in item.inner_text()
        assert item.locator(".joined-ok").is_visible()  # the address is confirmed
        screenshot(tablet, f"join-{language}-tablet-joined")
        assert_nothing_cut_off(tablet)
        item.locator(".joined-pick").click()
        tablet.wait_for_url(re.compile(rf"/pos/m/{member.member_number}/$"))
        tablet.fill("#id_amount", "250.00")
        tablet.fill("#id_receipt_id", f"A-{language}")
        tablet.click("#record-sale")
        tablet.wait_for_selector("#result")
        assert tablet.locator("#result-carats").inner_text() == "+250"
        screenshot(tablet, f"join-{language}-tablet-sale")
        sale = Purchase.objects.get(member=member)
        assert (sale.store, sale.recorded_by, sale.receipt_id) == (
            boutique["store"],
            boutique["assistant"],
            f"A-{language}",
        )
    finally:
        tablet_ctx.close()
        phone_ctx.close()
