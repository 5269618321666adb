"""Words for people in the console: field names, row labels, the zone of the times."""

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise

from members.models import LedgerEntry, Member
from pos.models import Purchase, Return, Store
from pos.services import purchase_record
from tiers.models import Invitation, MemberTier, Tier, TierChange

NAMED = (Member, LedgerEntry, Tier, MemberTier, TierChange, Invitation, Store, Purchase, Return)


@pytest.mark.parametrize("model", NAMED, ids=lambda m: m.__name__)
def test_every_field_has_a_name_for_people(model):
    """Named on purpose and translated, not Django's default from the column name
    ("lifetime spend eur", "occurred at")."""
    for f in model._meta.concrete_fields:
        if f.primary_key and f.name == "id":
            continue
        assert isinstance(f.verbose_name, Promise), (model.__name__, f.name)
        assert not str(f.verbose_name).endswith((" eur", " at")), (model, f.name)


def test_field_names_are_translated():
    field = Member._meta.get_field("lifetime_spend_eur")
    assert str(field.verbose_name) == "lifetime spend (EUR)"
    with translation.override("nl"):
        assert str(field.verbose_name) == "totale besteding (EUR)"
    with translation.override("fr"):
        assert str(field.verbose_name) == "dépenses totales (EUR)"


def test_ledger_and_tier_rows_read_as_sentences(member, antwerp):
    purchase_record(
        member=member,
        channel="store",
        store=antwerp,
        receipt_id="1042",
        amount="600.00",
        currency="EUR",
    )
    entry = LedgerEntry.objects.get(member=member, kind="purchase")
    assert str(entry) == f"+{entry.carats:,} carats — purchase 1042 at Carat Antwerp"
    upgrade = TierChange.objects.select_related("from_tier", "to_tier").get(
        member=member, reason="upgrade"
    )
    assert str(upgrade) == "Radiant → Marquise (upgrade)"
    joined = TierChange.objects.get(member=member, reason="joined")
    assert str(joined) == "Radiant (joined)"


def test_an_adjustment_keeps_its_whole_reason(member):
    entry = LedgerEntry(
        member=member, carats=-25, kind="adjustment", reason="goodwill: late delivery"
    )
    assert str(entry) == "-25 carats — adjustment: goodwill: late delivery"


def test_console_says_the_zone_of_its_times(client, marketing, member, settings):
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert f"Times in {settings.TIME_ZONE}" in page
    assert "console/theme.css" in page


def test_member_page_in_dutch(client, marketing, member):
    client.cookies["django_language"] = "nl"
    page = client.get(
        reverse("admin:members_member_change", args=[member.pk]), HTTP_ACCEPT_LANGUAGE="nl"
    ).content.decode()
    assert "Totale waarde" in page and "Karaat aanpassen" in page
