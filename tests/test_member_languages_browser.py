"""The member's pages on a phone (390x844) in English, Dutch and French, in the real
Chromium: the brand's membership card, no English left in nl and fr, nothing wider than
the screen, the tier on one line, spending asks first. Screenshots in test-artifacts/."""

from io import StringIO

import pytest
from django.core.management import call_command

from campaigns.models import Club, Reward
from campaigns.services import club_join, reward_redeem
from campaigns.services.crm import unsubscribe_token
from members.models import Member
from members.services import ledger_post
from tests.browser import PHONE, screenshot
from tests.test_member_languages import content_sources, english_sources

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = {
    "account": "/account/",
    "history": "/account/history/",
    "rewards": "/account/rewards/",
    "profile": "/account/profile/",
}


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("loaddemo", members=1, stdout=StringIO())
    member = Member.objects.get(email="member@carat.example")
    ledger_post(member=member, carats=3000, kind="adjustment", reason="Goodwill", key="t:1")
    member.refresh_from_db()
    reward_redeem(member=member, reward=Reward.objects.get(name="EUR 25 voucher"))
    member.refresh_from_db()
    club_join(member=member, club=Club.objects.get(name="Bridal Circle"))
    member.refresh_from_db()
    return member


def log_in(page, base):
    page.goto(f"{base}/account/login/")
    page.fill("input[name=username]", "member@carat.example")
    page.fill("input[name=password]", "carat-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("#member-qr")


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_the_members_pages_on_a_phone(live_server, page_factory, demo, language):
    Member.objects.filter(pk=demo.pk).update(language=language)
    forbidden = (english_sources(language) | content_sources(demo)) if language != "en" else set()
    page = page_factory(PHONE)
    log_in(page, live_server.url)
    pages = dict(PAGES, unsubscribe=f"/m/u/{unsubscribe_token(demo)}/")
    for name, path in pages.items():
        page.goto(live_server.url + path)
        assert page.locator("html").get_attribute("lang") == language, name
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} ({language}) is {width}px wide"
        text = page.inner_text("body")
        english = sorted(s for s in forbidden if s in text)
        assert not english, f"{name} in {language} shows English: {english}"
        screenshot(page, f"member-{name}-{language}")
    page.goto(live_server.url + "/account/")
    # The card: the tier's name stays on one line, the active voucher sits under it.
    tier = page.locator(".member-card .tier-name")
    line = page.evaluate(
        "e => parseFloat(getComputedStyle(e).lineHeight) || 20", tier.element_handle()
    )
    assert tier.bounding_box()["height"] < 1.8 * line
    badge = page.locator("#tier")
    assert badge.bounding_box()["height"] < 1.8 * line
    # Each open voucher with its QR code (the demo gives the member a reward voucher and a
    # birthday gift).
    open_vouchers = demo.vouchers.filter(status="issued").count()
    assert open_vouchers >= 1
    assert page.locator("#vouchers .voucher img").count() == open_vouchers
    assert page.evaluate("() => document.querySelector('link[rel=icon]') !== null")


def test_spending_carats_asks_first_and_shows_the_balance_after(live_server, page_factory, demo):
    page = page_factory(PHONE)
    log_in(page, live_server.url)
    page.goto(live_server.url + "/account/rewards/")
    balance = Member.objects.get(pk=demo.pk).balance
    offer = page.locator("#rewards .offer", has_text="Free jewelry cleaning")
    offer.locator("summary").click()
    confirm = offer.locator(".spend-confirm")
    assert f"{balance - 300:,}" in confirm.inner_text()
    screenshot(page, "member-spend-confirm-en")
    assert Member.objects.get(pk=demo.pk).balance == balance  # nothing spent yet
    confirm.locator("button[type=submit]").click()
    page.wait_for_selector(".notice")
    assert Member.objects.get(pk=demo.pk).balance == balance - 300
