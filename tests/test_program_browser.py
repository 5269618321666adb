"""The program and CRM as their users see them, in the real Chromium: marketing builds a
rule, a segment and a broadcast in the console; a member redeems a reward and follows a
challenge; a shop assistant accepts the voucher and sees the challenge at the till; a
member unsubscribes from a mail."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from campaigns.models import Broadcast, Challenge, EarningRule, MessageLog, Reward
from campaigns.services import broadcasts_select, messages_dispatch
from loyalty.kernel.roles import MARKETING, role_grant, roles_apply
from members.models import Member, User
from pos.services import purchase_record
from tests.browser import PHONE, TABLET, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-browser-123"


def marketing_user():
    user = User.objects.create_user(email="mkt@example.com", password=PASSWORD)
    roles_apply()
    role_grant(user=user, role=MARKETING)
    return user


def admin_login(page, base):
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "mkt@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")


def member_login(page, base, email):
    page.goto(f"{base}/account/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#member-qr")


def member_with_login(enroll, email, **fields):
    user = User.objects.create_user(email=email, password=PASSWORD)
    m = enroll(email=email, user=user, email_opt_in=True, first_name="Zoé", last_name="Peeters")
    if fields:
        Member.objects.filter(pk=m.pk).update(**fields)
    m.refresh_from_db()
    return m


def test_marketing_builds_a_rule_and_a_member_redeems_at_the_till(
    live_server, page_factory, enroll, antwerp
):
    marketing_user()
    base = live_server.url
    admin = page_factory({"width": 1366, "height": 900})
    admin_login(admin, base)
    # a bonus campaign: double carats, created in the console without code
    admin.goto(f"{base}/admin/campaigns/earningrule/add/")
    admin.fill("#id_name", "Double carats this week")
    admin.fill("#id_starts_at_0", (timezone.localdate() - timedelta(days=1)).isoformat())
    admin.fill("#id_starts_at_1", "00:00:00")
    admin.fill("#id_multiplier", "2")
    admin.click("input[name=_save]")
    admin.wait_for_selector(".messagelist")
    assert EarningRule.objects.get().multiplier == Decimal("2")
    # a reward in the catalog
    admin.goto(f"{base}/admin/campaigns/reward/add/")
    admin.fill("#id_name", "EUR 25 voucher")
    admin.select_option("#id_kind", "amount")
    admin.fill("#id_cost_carats", "150")
    admin.fill("#id_value", "25")
    admin.fill("#id_starts_at_0", (timezone.localdate() - timedelta(days=1)).isoformat())
    admin.fill("#id_starts_at_1", "00:00:00")
    admin.click("input[name=_save]")
    admin.wait_for_selector(".messagelist")
    screenshot(admin, "console-reward-saved")

    member = member_with_login(enroll, "zoe@example.com")
    sale = purchase_record(
        member=member,
        channel="store",
        store=antwerp,
        receipt_id="B1",
        amount="100.00",
        currency="EUR",
    )
    assert sale.carats_awarded == 200  # the rule marketing just made
    page = page_factory(PHONE)
    member_login(page, base, member.email)
    page.goto(f"{base}/account/rewards/")
    page.click("#rewards summary")  # the price asks first
    page.click("#rewards .spend-confirm button[type=submit]")
    page.wait_for_selector("#vouchers")
    code = re.search(r"V[A-Z0-9]{5}-[A-Z0-9]{5}", page.inner_text("#vouchers")).group(0)
    screenshot(page, "account-voucher")

    assistant = User.objects.create_user(email="sam@example.com", password=PASSWORD)
    antwerp.staff.add(assistant)
    till = page_factory(TABLET)
    till.goto(f"{base}/pos/login/")
    till.fill("input[name=username]", "sam@example.com")
    till.fill("input[name=password]", PASSWORD)
    till.click("button[type=submit]")
    till.fill("input[name=code]", member.member_number)
    till.keyboard.press("Enter")
    till.wait_for_selector("#discount")
    till.fill("#voucher-code", code)
    till.click("#use-voucher")
    till.wait_for_selector("#voucher-result")
    assert f"Voucher {code} accepted" in till.inner_text("#voucher-result")
    screenshot(till, "pos-voucher-accepted")
    assert Reward.objects.get().vouchers.get().status == "used"


def test_challenge_progress_on_the_account_and_the_notice_at_the_till(
    live_server, page_factory, enroll, antwerp
):
    Challenge.objects.create(
        name="Second sparkle",
        description="A second purchase within 90 days: double carats.",
        goal="second_purchase",
        enrolment="first_purchase",
        window_days=90,
        reward_multiplier=Decimal("2"),
        badge="Second sparkle",
        starts_at=timezone.now() - timedelta(days=10),
    )
    member = member_with_login(enroll, "ada@example.com")
    purchase_record(
        member=member,
        channel="online",
        store=None,
        receipt_id="W1",
        amount="80.00",
        currency="EUR",
        occurred_at=timezone.now() - timedelta(days=5),
    )
    base = live_server.url
    page = page_factory(PHONE)
    member_login(page, base, member.email)
    page.wait_for_function("() => document.querySelector('#member-qr').naturalWidth > 0")
    card = page.inner_text("[id^=challenge-]")
    assert "Second sparkle" in card and "days left" in card
    screenshot(page, "account-challenge")

    assistant = User.objects.create_user(email="sam@example.com", password=PASSWORD)
    antwerp.staff.add(assistant)
    till = page_factory(TABLET)
    till.goto(f"{base}/pos/login/")
    till.fill("input[name=username]", "sam@example.com")
    till.fill("input[name=password]", PASSWORD)
    till.click("button[type=submit]")
    till.fill("input[name=code]", member.member_number)
    till.keyboard.press("Enter")
    till.wait_for_selector("#challenge-notice")
    assert "2x carats on this sale: Second sparkle" in till.inner_text("#challenge-notice")
    till.fill("#id_amount", "50.00")
    till.fill("#id_receipt_id", "S2")
    till.click("#record-sale")
    till.wait_for_selector("#result")
    assert "+100" in till.inner_text("#result")
    screenshot(till, "pos-challenge-sale")
    page.reload()
    assert "Second sparkle" in page.inner_text("#badges")


def test_marketing_segments_and_broadcasts_and_a_member_unsubscribes(
    live_server, page_factory, enroll
):
    marketing_user()
    for i in range(3):
        member_with_login(enroll, f"be{i}@example.com", country="BE")
    member_with_login(enroll, "nl@example.com", country="NL")
    base = live_server.url
    admin = page_factory({"width": 1366, "height": 900})
    admin_login(admin, base)
    admin.goto(f"{base}/admin/campaigns/segment/add/")
    admin.fill("#id_name", "Belgian members")
    admin.click("#segment-builder .seg-group button")  # + condition
    admin.select_option("#segment-builder .seg-row select", "country")
    admin.fill("#segment-builder .seg-row input[type=text]", "BE")
    counted = "() => document.querySelector('#segment-reach').textContent.startsWith('3 members')"
    admin.wait_for_function(counted)
    admin.click("input[name=_continue]")
    admin.wait_for_selector(".field-preview")
    admin.wait_for_function(counted)  # the saved segment reads back into the builder
    screenshot(admin, "console-segment")

    admin.goto(f"{base}/admin/campaigns/broadcast/add/")
    admin.fill("#id_name", "Winter preview")
    admin.select_option("#id_segment", label="Belgian members")
    admin.fill("#id_subject_en", "Our winter collection, first for you")
    admin.fill(
        "#id_body_en", "Dear {{ member.first_name }}, see it first: https://shop.example/winter"
    )
    admin.click("input[name=_save]")
    admin.wait_for_selector("#result_list")
    admin.check("#result_list input[name=_selected_action]")
    admin.select_option("select[name=action]", "schedule")
    admin.click("button[name=index]")
    admin.wait_for_selector(".messagelist")
    assert Broadcast.objects.get().status == "scheduled"

    # the beat jobs (no worker in a test): claim and dispatch; sending runs eagerly
    broadcasts_select()
    messages_dispatch()
    assert MessageLog.objects.filter(trigger="broadcast", status="sent").count() == 3
    admin.goto(f"{base}/admin/campaigns/messagelog/?trigger=broadcast")
    assert admin.locator("#result_list tbody tr").count() == 3
    assert "sent" in admin.inner_text("#result_list")
    screenshot(admin, "console-message-log")

    message = next(m for m in mail.outbox if m.to == ["be0@example.com"])
    link = message.extra_headers["List-Unsubscribe"].strip("<>")
    page = page_factory(PHONE)
    page.goto(base + re.sub(r"^https?://[^/]+", "", link))
    page.click("#unsubscribe")
    page.wait_for_selector("#unsubscribed")
    assert not Member.objects.get(email="be0@example.com").email_opt_in
    screenshot(page, "unsubscribed")
