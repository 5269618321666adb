"""One language per member, everywhere: every page a member sees, in Dutch and in French,
shows none of the English texts it is written from (the catalogs' msgids, the program's
English content, the console's ledger reasons)."""

import html
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.models import Challenge, Club, EarningRule, Reward
from campaigns.services import club_join, reward_redeem
from campaigns.services.crm import unsubscribe_token
from members.models import LedgerEntry, Member
from tiers.models import Tier

LOCALE = Path(__file__).resolve().parent.parent / "locale"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%|\{\{[^}]*\}\}")


def english_sources(language: str) -> set[str]:
    """The English texts of the catalog that this language translates differently: each
    literal run of two words or more (placeholders split a text into runs)."""
    po = (LOCALE / language / "LC_MESSAGES" / "django.po").read_text()
    out = set()
    for msgid, msgstr in re.findall(r'\nmsgid ((?:".*"\n)+)msgstr ((?:".*"\n)+)', po):
        source = "".join(re.findall(r'"(.*)"', msgid)).replace('\\"', '"')
        target = "".join(re.findall(r'"(.*)"', msgstr)).replace('\\"', '"')
        if not source or source == target:
            continue
        for run in PLACEHOLDER.split(source):
            run = run.strip(" .,:;!?()\n")
            if len(run.split()) >= 2 and run not in target:
                out.add(run)
    return out


def content_sources(member) -> set[str]:
    """The program's English content and the console's words for the ledger."""
    out = set()
    for model, fields in (
        (Tier, ("benefits",)),
        (Reward, ("name", "description")),
        (Club, ("name", "description", "perks")),
        (Challenge, ("name", "description")),
        (EarningRule, ("name", "member_label")),
    ):
        for obj in model.objects.all():
            for field in fields:
                out.update(line.strip() for line in getattr(obj, field).splitlines())
    out.update(LedgerEntry.objects.filter(member=member).values_list("reason", flat=True))
    return {s for s in out if len(s.split()) >= 2}


def visible_text(page: str) -> str:
    page = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", page)
    attrs = re.findall(r'\b(?:alt|title|aria-label|placeholder)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", "\n", page)
    return html.unescape("\n".join([text, *attrs]))


@pytest.fixture
def demo_member(db, settings, client):
    settings.DEBUG = True  # loaddemo's published password
    call_command("loaddemo", members=1, stdout=StringIO())
    member = Member.objects.get(email="member@carat.example")
    # Every kind of line and card: a voucher, a club, a campaign's label on a sale.
    Member.objects.filter(pk=member.pk).update(balance=member.balance + 5000)
    LedgerEntry.objects.create(
        member=member,
        carats=5000,
        kind="adjustment",
        reason="Goodwill after the Antwerp complaint",
        key="adjust:test",
        balance_after=member.balance + 5000,
    )
    member.refresh_from_db()
    reward_redeem(member=member, reward=Reward.objects.get(name="EUR 25 voucher"))
    club_join(member=member, club=Club.objects.get(name="Bridal Circle"))
    client.force_login(member.user)
    return member


PAGES = ["members:home", "members:history", "members:rewards", "members:profile", "members:privacy"]


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_every_member_page_speaks_the_members_language(client, demo_member, language):
    Member.objects.filter(pk=demo_member.pk).update(language=language)
    forbidden = english_sources(language) | content_sources(demo_member)
    token = unsubscribe_token(demo_member)
    pages = {name: client.get(reverse(name)) for name in PAGES}
    client.logout()  # the mail's links work without a session
    pages["unsubscribe"] = client.get(reverse("campaigns:unsubscribe", args=[token]))
    pages["unsubscribed"] = client.post(reverse("campaigns:unsubscribe", args=[token]))
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = visible_text(response.content.decode())
        assert f'lang="{language}"' in response.content.decode(), name
        english = sorted(s for s in forbidden if s in text)
        assert not english, f"{name} in {language} shows English: {english}"


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_the_pages_before_the_log_in_speak_the_visitors_language(client, program, language):
    forbidden = english_sources(language)
    client.cookies["django_language"] = language
    for name in ("members:login", "members:signup", "members:password_reset"):
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        text = visible_text(response.content.decode())
        english = sorted(s for s in forbidden if s in text)
        assert not english, f"{name} in {language} shows English: {english}"


def test_dates_are_written_day_first_in_every_language(client, demo_member):
    entry = LedgerEntry.objects.filter(member=demo_member).order_by("-created_at").first()
    day = timezone.localtime(entry.occurred_at)
    for language in ("en", "nl", "fr"):
        Member.objects.filter(pk=demo_member.pk).update(language=language)
        page = client.get(reverse("members:history")).content.decode()
        assert day.strftime("%d/%m/%Y") in page, language


@pytest.mark.parametrize(
    ("language", "message"),
    [("nl", "Bedrag moet groter zijn dan nul."), ("fr", "Montant doit être supérieur à zéro.")],
)
def test_a_refusal_reads_in_the_page_language_and_the_api_stays_english(
    client, program, antwerp, member, language, message
):
    from loyalty.kernel.api_errors import exception_handler
    from loyalty.kernel.errors import DomainError
    from pos.services import parse_amount
    from tests.factories import UserFactory

    assistant = UserFactory(email="sam@carat.example")
    antwerp.staff.add(assistant)
    client.force_login(assistant)
    client.cookies["django_language"] = language
    page = client.post(
        reverse("pos:sale", args=[member.member_number]),
        {"store": "antwerp", "receipt_id": "B-1", "amount": "0", "currency": "EUR"},
    ).content.decode()
    assert message in html.unescape(page)
    # The API answers in English whatever language its thread served last.
    with translation.override(language):
        with pytest.raises(DomainError) as refused:
            parse_amount("0", field="amount")
        body = exception_handler(refused.value, {}).data
    assert body["error"]["message"] == "amount must be greater than zero."


def test_the_console_warns_when_a_language_is_missing(admin_client, program):
    tier = Tier.objects.order_by("rank").first()
    Tier.objects.filter(pk=tier.pk).update(name_nl="", name_fr="", benefits_nl="", benefits_fr="")
    url = reverse("admin:tiers_tier_change", args=[tier.pk])
    form = {
        "code": tier.code,
        "name": tier.name,
        "name_nl": tier.name,
        "name_fr": "",
        "rank": tier.rank,
        "threshold": tier.threshold,
        "discount_percent": tier.discount_percent,
        "earn_multiplier": tier.earn_multiplier,
        "public": "on",
        "color": tier.color,
        "benefits": "Free engraving",
        "benefits_nl": "Gratis gravure",
        "benefits_fr": "",
    }
    page = admin_client.post(url, form, follow=True).content.decode()
    assert "has no text in Français yet" in html.unescape(page)
    form.update(name_fr=tier.name, benefits_fr="Gravure offerte")
    page = admin_client.post(url, form, follow=True).content.decode()
    assert "has no text in" not in html.unescape(page)
    tier.refresh_from_db()
    assert tier.benefits_fr == "Gravure offerte"


def test_mails_name_the_tier_in_the_members_language(member):
    from campaigns.services.crm import mail_values

    Tier.objects.update(name_nl="Stralend")
    with translation.override("nl"):
        values = mail_values(member=member, needed=["tier"])
    assert values["tier"] == "Stralend"
    with translation.override("fr"):  # no French text yet: the English one
        assert mail_values(member=member, needed=["tier"])["tier"] == Tier.objects.first().name


def test_the_wallet_card_names_the_tier_in_the_members_language(member):
    from members.wallet.card import card_facts

    Tier.objects.update(name_fr="Rayonnant")
    Member.objects.filter(pk=member.pk).update(language="fr")
    member.refresh_from_db()
    assert card_facts(member).tier_name == "Rayonnant"


def test_a_refused_redemption_reads_in_the_members_language(client, member):
    from datetime import timedelta
    from decimal import Decimal

    from members.models import User

    user = User.objects.create_user(email=member.email, password="pw-12345-abc")
    Member.objects.filter(pk=member.pk).update(user=user, language="nl")
    client.force_login(user)
    reward = Reward.objects.create(
        name="Gold pen",
        kind="product",
        cost_carats=500,
        value=Decimal("0"),
        starts_at=timezone.now() - timedelta(days=1),
    )
    page = client.post(reverse("members:redeem", args=[reward.pk]), follow=True)
    assert "Niet genoeg karaten: 500 nodig." in html.unescape(page.content.decode())
