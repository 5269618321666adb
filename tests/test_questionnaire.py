"""The thank-you questionnaire: the link in the thank-you mail, the answers, the voucher
granted once per purchase (also under parallel submits), the member's language, bad input,
and the answers in the export, the erasure and the segments."""

import re
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Program, Reward, Segment, SegmentCondition, TriggerConfig, Voucher
from campaigns.questionnaire import (
    questionnaire_link,
    questionnaire_purchase_id,
    questionnaire_token,
)
from campaigns.segments import segment_members
from campaigns.services import messages_dispatch, triggers_select
from loyalty.console.privacy import member_erase_all, member_export
from members.models import Member
from pos.models import QuestionnaireAnswer
from pos.services import api_key_create, purchase_record
from tests.helpers import run_in_threads

ANSWERS = {
    "satisfaction": "5",
    "bought_for": "gift",
    "metal": "white_gold",
    "stone": "diamond",
    "style": "classic",
    "ring_size": "54",
    "partner_birthday": "1988-04-12",
    "wedding_anniversary": "2015-06-20",
}
THANKS = {
    "en": ("Thank you, {{ first_name }}", "Six answers, 15 % off: {{ questionnaire_link }}"),
    "nl": ("Bedankt, {{ first_name }}", "Zes antwoorden, 15 % korting: {{ questionnaire_link }}"),
    "fr": ("Merci, {{ first_name }}", "Six réponses, 15 % de réduction : {{ questionnaire_link }}"),
}


@pytest.fixture
def reward(program):
    reward = Reward.objects.create(
        name="15 % on your next purchase",
        name_nl="15 % op je volgende aankoop",
        name_fr="15 % sur votre prochain achat",
        kind="percent",
        value=Decimal("15"),
        cost_carats=1,
        active=False,  # not in the rewards catalog: given for the questionnaire only
    )
    Program.objects.filter(pk=1).update(questionnaire_reward=reward)
    return reward


def bought(member, receipt="Q-1", days_ago=1):
    return purchase_record(
        member=member,
        channel="online",
        store=None,
        currency="EUR",
        receipt_id=receipt,
        amount="250.00",
        occurred_at=timezone.now() - timedelta(days=days_ago),
        lines=[{"sku": "RING-1", "category": "rings", "amount": "250.00"}],
    ).purchase


def link_path(purchase):
    return reverse("questionnaire", args=[questionnaire_token(purchase.pk)])


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_thank_you_mail_links_to_the_questionnaire_in_the_members_language(
    enroll, reward, language, django_capture_on_commit_callbacks
):
    fields = {"trigger": "thank_you", "offset_days": 1}
    for lang, (subject, body) in THANKS.items():
        fields[f"subject_{lang}"], fields[f"body_{lang}"] = subject, body
    TriggerConfig.objects.create(**fields)
    member = enroll(first_name="Zoé", language=language, email_opt_in=True)
    purchase = bought(member)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        triggers_select(now=now)
        messages_dispatch(now=now)
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.subject == THANKS[language][0].replace("{{ first_name }}", "Zoé")
    link = re.search(r"https?://\S+/account/questionnaire/(\S+)/", sent.body)
    assert link.group(0).startswith(questionnaire_link(purchase.pk).split("/account/")[0])
    assert questionnaire_purchase_id(link.group(1)) == purchase.pk
    link = link.group(0)
    page = Client().get(link)
    assert page.status_code == 200
    html = page.content.decode()
    expected = {
        "en": "How happy are you with your purchase?",
        "nl": "Hoe tevreden ben je over je aankoop?",
        "fr": "Êtes-vous satisfait(e) de votre achat ?",
    }[language]
    assert expected in html
    assert {"en": "15 % on your next", "nl": "15 % op je volgende", "fr": "15 % sur votre"}[
        language
    ] in html


def test_answering_grants_the_voucher_once_per_purchase(member, reward, client):
    purchase = bought(member)
    response = client.post(link_path(purchase), ANSWERS)
    assert response.status_code == 200
    voucher = Voucher.objects.get(member=member)
    assert (voucher.kind, voucher.value, voucher.source) == (
        "percent",
        Decimal("15"),
        "questionnaire",
    )
    assert voucher.code in response.content.decode()
    answer = QuestionnaireAnswer.objects.get(purchase=purchase)
    assert (answer.satisfaction, answer.bought_for, answer.metal, answer.ring_size) == (
        5,
        "gift",
        "white_gold",
        54,
    )
    assert answer.voucher == voucher
    member.refresh_from_db()
    assert member.wedding_anniversary == date(2015, 6, 20)  # the profile had none
    again = client.post(link_path(purchase), {**ANSWERS, "satisfaction": "1"})
    assert again.status_code == 200
    assert 'id="already-answered"' in again.content.decode()
    assert Voucher.objects.filter(member=member).count() == 1
    assert QuestionnaireAnswer.objects.get(purchase=purchase).satisfaction == 5
    # A later purchase has its own questionnaire: history is kept, one voucher each.
    second = bought(member, receipt="Q-2", days_ago=0)
    client.post(link_path(second), {**ANSWERS, "metal": "rose_gold"})
    assert QuestionnaireAnswer.objects.filter(member=member).count() == 2
    assert Voucher.objects.filter(member=member).count() == 2


def test_the_voucher_is_redeemed_at_the_till_with_its_discount(member, reward, client, antwerp):
    client.post(link_path(bought(member)), ANSWERS)
    code = Voucher.objects.get(member=member).code
    _key, plain = api_key_create(name="till", store=antwerp)
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    seen = till.get(f"/api/v1/vouchers/{code}/").json()
    assert (seen["kind"], seen["value"]) == ("percent", "15.00")
    used = till.post(f"/api/v1/vouchers/{code}/redeem/", {}, format="json")
    assert used.status_code == 200, used.content
    assert Voucher.objects.get(code=code).status == "used"


@pytest.mark.parametrize(
    "bad",
    [
        {**ANSWERS, "satisfaction": "9"},
        {**ANSWERS, "bought_for": "nobody"},
        {**ANSWERS, "metal": "gold<script>"},
        {**ANSWERS, "ring_size": "99"},
        {**ANSWERS, "partner_birthday": "1800-01-01"},
        {**ANSWERS, "partner_birthday": "2999-01-01"},
        {**ANSWERS, "wedding_anniversary": "12/06/2015"},
        {k: v for k, v in ANSWERS.items() if k != "satisfaction"},
    ],
)
def test_bad_answers_are_refused_and_change_nothing(member, reward, client, bad):
    response = client.post(link_path(bought(member)), bad)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert not QuestionnaireAnswer.objects.exists()
    assert not Voucher.objects.exists()


def test_forged_expired_and_erased_links_are_refused(member, reward, client, monkeypatch):
    purchase = bought(member)
    assert client.get(reverse("questionnaire", args=["forged:token"])).status_code == 404
    tampered = questionnaire_token(purchase.pk).replace(":", "x:", 1)
    assert client.get(reverse("questionnaire", args=[tampered])).status_code == 404
    real_time = time.time
    monkeypatch.setattr("django.core.signing.time.time", lambda: real_time() - 31 * 86400)
    old = questionnaire_token(purchase.pk)
    monkeypatch.setattr("django.core.signing.time.time", real_time)
    expired = client.post(reverse("questionnaire", args=[old]), ANSWERS)
    assert expired.status_code == 410
    member_erase_all(member=member, source="console", reason="request")
    assert client.post(link_path(purchase), ANSWERS).status_code == 404
    assert not Voucher.objects.exists()


def test_no_reward_configured_still_records_the_answers(member, client):
    purchase = bought(member)
    assert client.post(link_path(purchase), ANSWERS).status_code == 200
    assert QuestionnaireAnswer.objects.filter(purchase=purchase, voucher=None).exists()


def test_answers_are_exported_and_erased(member, reward, client):
    client.post(link_path(bought(member)), ANSWERS)
    export = member_export(member)
    [row] = export["questionnaire_answers"]
    assert (row["metal"], row["partner_birthday"]) == ("white_gold", "1988-04-12")
    member_erase_all(member=member, source="console", reason="request")
    assert not QuestionnaireAnswer.objects.exists()


def test_segments_read_the_latest_preference_and_gift_buyers(enroll, reward):
    c = Client()
    white_then_rose, white, self_buyer, none = enroll(), enroll(), enroll(), enroll()
    c.post(link_path(bought(white_then_rose, "1", days_ago=3)), ANSWERS)
    c.post(
        link_path(bought(white_then_rose, "2", days_ago=2)),
        {**ANSWERS, "metal": "rose_gold", "bought_for": "self"},
    )
    c.post(link_path(bought(white, "3")), ANSWERS)
    c.post(link_path(bought(self_buyer, "4")), {**ANSWERS, "bought_for": "self", "metal": ""})
    bought(none, "5")

    names = iter(range(100))

    def members(field, value, negate=False):
        seg = Segment.objects.create(name=f"{field} {value} {next(names)}")
        SegmentCondition.objects.create(segment=seg, field=field, value=value, negate=negate)
        return set(segment_members(seg).values_list("pk", flat=True))

    assert members("prefers_metal", "white_gold") == {white.pk}
    assert members("prefers_metal", "rose_gold, platinum") == {white_then_rose.pk}
    # A later answer without a metal keeps the earlier preference.
    c.post(link_path(bought(white, "6", days_ago=0)), {**ANSWERS, "metal": ""})
    assert members("prefers_metal", "white_gold") == {white.pk}
    assert members("gift_buyer", "yes") == {white_then_rose.pk, white.pk}
    assert members("gift_buyer", "no") == {self_buyer.pk, none.pk}
    assert members("prefers_style", "classic") == {white_then_rose.pk, white.pk, self_buyer.pk}


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_parallel_submits_grant_one_voucher(enroll):
    from tests.factories import make_program

    make_program()
    reward = Reward.objects.create(
        name="15 %", kind="percent", value=Decimal("15"), cost_carats=1, active=False
    )
    Program.objects.filter(pk=1).update(questionnaire_reward=reward)
    member = enroll()
    path = link_path(bought(member))

    def submit(i):
        return Client().post(path, {**ANSWERS, "satisfaction": str(1 + i % 5)}).status_code

    results = run_in_threads(submit, 8)
    assert results == [200] * 8, results
    assert QuestionnaireAnswer.objects.filter(member=member).count() == 1
    assert Voucher.objects.filter(member=member).count() == 1
    assert Member.objects.get(pk=member.pk).vouchers.get().source == "questionnaire"


def test_the_console_shows_the_answers_on_the_member(member, reward, client, marketing):
    Client().post(link_path(bought(member)), ANSWERS)
    page = client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "questionnaire answers (tastes and dates" in html.lower()
    assert "white gold" in html and "1988" in html
    listing = client.get(reverse("admin:pos_questionnaireanswer_changelist"))
    assert listing.status_code == 200 and "white gold" in listing.content.decode()
