"""The dashboard is right on open: a second-purchase conversion on the default view, the
period and filters kept while navigating, and a demo whose history is dated as it
happened."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from loyalty.console import kpis
from loyalty.console.dashboard import preset_period
from loyalty.console.kpis import Filters
from members.models import LedgerEntry, Member
from pos.models import Purchase
from pos.services import purchase_record
from tiers.models import TierChange


@pytest.fixture(autouse=True)
def fresh_dashboard_cache():
    cache.clear()
    yield
    cache.clear()


def sale(member, store, receipt, days_ago, amount="200.00"):
    at = timezone.now() - timedelta(days=days_ago)
    purchase_record(
        member=member,
        channel="store",
        store=store,
        receipt_id=receipt,
        amount=amount,
        currency="EUR",
        occurred_at=at,
    )


@pytest.fixture
def earlier_buyers(enroll, antwerp):
    """Ann bought first 200 days ago and again 150 days ago (50 days later); Ben bought
    once, 120 days ago. Nobody's first order is in the last 30 days."""
    ann = enroll(email="ann@example.com", joined_at=timezone.now() - timedelta(days=300))
    ben = enroll(email="ben@example.com", joined_at=timezone.now() - timedelta(days=300))
    sale(ann, antwerp, "ANN-1", 200)
    sale(ann, antwerp, "ANN-2", 150)
    sale(ben, antwerp, "BEN-1", 120)
    return ann, ben


def test_default_view_has_the_earlier_buyers_conversion(earlier_buyers):
    period = preset_period("30d", timezone.localdate())
    d = kpis.dashboard(period, Filters(), rollup=False)
    assert all(r.value is None for r in d.current.conversion.within.values())
    assert d.earlier_period.end == period.end - timedelta(days=90)
    assert d.earlier.first_buyers == 2
    assert (d.earlier.within[90].numerator, d.earlier.within[90].denominator) == (1, 2)
    assert (d.earlier.within[180].numerator, d.earlier.within[180].denominator) == (1, 1)
    assert d.earlier.within[365].denominator == 0


def test_dashboard_page_shows_a_conversion_on_open(client, marketing, earlier_buyers):
    page = client.get(reverse("admin:index")).content.decode()
    assert "Earlier first-time buyers" in page
    card = page[page.index('id="kpi-earlier_90"') :][:400]
    assert "50.0 %" in card
    assert "100.0 %" in page[page.index('id="kpi-earlier_180"') :][:400]


def test_period_and_filters_are_kept_while_navigating(client, marketing, antwerp):
    index = reverse("admin:index")
    client.get(index, {"period": "90d", "store": "antwerp"})
    client.get(reverse("admin:members_member_changelist"))
    back = client.get(index)
    assert back.context["form"]["period"].value() == "90d"
    assert back.context["form"]["store"].value() == "antwerp"
    assert back.context["period"].days == 90
    reset = client.get(index, {"reset": "1"})
    assert reset.context["period"].days == 30
    assert client.get(index).context["period"].days == 30


def test_an_invalid_choice_is_not_remembered(client, marketing):
    index = reverse("admin:index")
    client.get(index, {"period": "90d"})
    client.get(index, {"period": "custom", "start": "2025-02-01", "end": "2025-01-01"})
    assert client.get(index).context["form"]["period"].value() == "90d"


def test_demo_history_is_dated_as_it_happened(db, settings):
    settings.DEBUG = True
    call_command("loaddemo", members=25)
    purchases = LedgerEntry.objects.filter(kind="purchase")
    assert purchases.exists()
    for entry in purchases:
        assert entry.created_at == entry.occurred_at
    # Every upgrade is dated at the sale that made it; every member joined at their date.
    sale_times = set(Purchase.objects.values_list("occurred_at", flat=True))
    upgrades = TierChange.objects.filter(reason="upgrade")
    assert upgrades.exists()
    assert all(u.changed_at in sale_times for u in upgrades)
    for member in Member.objects.all():
        joined = member.tier_changes.get(reason="joined")
        assert joined.changed_at == member.joined_at
    month_ago = timezone.now() - timedelta(days=30)
    assert LedgerEntry.objects.filter(created_at__gte=month_ago).count() < (
        LedgerEntry.objects.count() / 2
    )
