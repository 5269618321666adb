"""The thank-you questionnaire in the real Chromium on a phone: the link in the thank-you
mail (run by the trigger job, read from the outbox), the answers, the voucher, the voucher
accepted at the till, and a second answer that grants nothing."""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from campaigns.models import Program, Reward, TriggerConfig, Voucher
from campaigns.services import member_enroll, messages_dispatch, triggers_select
from pos.models import QuestionnaireAnswer
from pos.services import purchase_record
from tests.browser import PHONE, screenshot
from tests.factories import StoreFactory, UserFactory, make_program
from tests.test_pos_browser import PASSWORD, assert_nothing_cut_off, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXTS = {
    "en": ("Thank you, {{ first_name }}: 15 % off for six answers", "{{ questionnaire_link }}"),
    "nl": (
        "Bedankt, {{ first_name }}: 15 % korting voor zes antwoorden",
        "{{ questionnaire_link }}",
    ),
    "fr": ("Merci, {{ first_name }} : 15 % pour six réponses", "{{ questionnaire_link }}"),
}
HEADINGS = {
    "en": "How happy are you with your purchase?",
    "nl": "Hoe tevreden ben je over je aankoop?",
    "fr": "Êtes-vous satisfait(e) de votre achat ?",
}


@pytest.fixture
def world():
    make_program()
    reward = Reward.objects.create(
        name="15 % on your next purchase",
        name_nl="15 % op je volgende aankoop",
        name_fr="15 % sur votre prochain achat",
        kind="percent",
        value=Decimal("15"),
        cost_carats=1,
        active=False,
    )
    Program.objects.filter(pk=1).update(questionnaire_reward=reward)
    fields = {"trigger": "thank_you", "offset_days": 1}
    for lang, (subject, body) in TEXTS.items():
        fields[f"subject_{lang}"], fields[f"body_{lang}"] = subject, body
    TriggerConfig.objects.create(**fields)
    antwerp = StoreFactory(code="antwerp", name="Carat Antwerp", currency="EUR")
    assistant = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    assistant.set_password(PASSWORD)
    assistant.save()
    antwerp.staff.add(assistant)
    members = {}
    for i, lang in enumerate(("fr", "nl", "en")):
        member = member_enroll(
            email=f"q{lang}@example.com",
            first_name={"fr": "Zoé", "nl": "Lotte", "en": "Mira"}[lang],
            last_name="Peeters",
            language=lang,
            email_opt_in=True,
        )
        purchase_record(
            member=member,
            channel="store",
            store=antwerp,
            currency="EUR",
            receipt_id=f"A-{i}",
            amount="640.00",
            occurred_at=timezone.now() - timezone.timedelta(days=1),
            lines=[{"sku": "RING-0215", "category": "rings", "amount": "640.00"}],
        )
        members[lang] = member
    return {"members": members, "store": antwerp}


def _link(base, member):
    message = next(m for m in mail.outbox if m.to == [member.email])
    link = re.search(r"https?://\S+/account/questionnaire/\S+/", message.body).group(0)
    return message, base + re.sub(r"^https?://[^/]+", "", link)


def test_questionnaire_from_the_mail_to_the_till(live_server, page_factory, world):
    base = live_server.url
    triggers_select()  # the beat jobs (no worker in a test): sending runs eagerly
    messages_dispatch()
    assert len(mail.outbox) == 3

    # The form in each member's language, on a phone.
    for lang in ("nl", "en"):
        message, link = _link(base, world["members"][lang])
        page = page_factory(PHONE)
        page.goto(link)
        assert HEADINGS[lang] in page.content()
        screenshot(page, f"questionnaire-{lang}-form")
        assert_nothing_cut_off(page)

    zoe = world["members"]["fr"]
    message, link = _link(base, zoe)
    assert message.subject == "Merci, Zoé : 15 % pour six réponses"
    page = page_factory(PHONE)
    page.goto(link)
    assert HEADINGS["fr"] in page.content()
    assert "15 % sur votre prochain achat" in page.content()
    screenshot(page, "questionnaire-fr-form")
    assert_nothing_cut_off(page)
    page.check("input[name=satisfaction][value='5']")
    page.check("input[name=bought_for][value='gift']")
    page.select_option("#id_metal", "white_gold")
    page.select_option("#id_stone", "diamond")
    page.select_option("#id_style", "classic")
    page.select_option("#id_ring_size", "54")
    page.fill("#id_partner_birthday", "1988-04-12")
    page.fill("#id_wedding_anniversary", "2015-06-20")
    screenshot(page, "questionnaire-fr-filled")
    page.click("#questionnaire-send")
    page.wait_for_selector("#voucher-code")
    code = page.locator("#voucher-code").inner_text().strip()
    voucher = Voucher.objects.get(member=zoe)
    assert (voucher.code, voucher.kind, voucher.value) == (code, "percent", Decimal("15"))
    assert "Merci, Zoé" in page.content()
    screenshot(page, "questionnaire-fr-voucher")
    assert_nothing_cut_off(page)

    # The same link again: already answered, nothing more granted.
    page.goto(link)
    page.wait_for_selector("#already-answered")
    assert page.locator("#questionnaire-form").count() == 0
    screenshot(page, "questionnaire-fr-again")
    assert Voucher.objects.filter(member=zoe).count() == 1
    assert QuestionnaireAnswer.objects.filter(member=zoe).count() == 1

    # At the till: the member's voucher is listed and accepted.
    till = page_factory(PHONE)
    login(till, base)
    till.fill("#id_code", zoe.member_number)
    till.keyboard.press("Enter")
    till.wait_for_url(re.compile(rf"/pos/m/{zoe.member_number}/$"))
    row = till.locator(".voucher-row", has_text=code)
    assert "15 % on your next purchase" in row.inner_text()
    row.get_by_role("button").click()
    till.wait_for_selector("#voucher-result")
    assert code in till.locator("#voucher-result").inner_text()
    assert "15 %" in till.locator("#voucher-result").inner_text()
    screenshot(till, "questionnaire-till-voucher")
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_where) == ("used", "antwerp")
