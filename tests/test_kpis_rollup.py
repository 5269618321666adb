"""The dashboard read from the rollups (loyalty.console.rollup) gives the numbers of the live
queries: on the hand-made January 2025 book of test_kpis (whose answers are worked out
there), for the periods and filters the console offers, and for the edge cases the
rollups have to get right (local midnights, same-day orders, fully returned sales, the
12-month window, cohorts cut mid-month)."""

# ruff: noqa: F811 - the fixtures imported from test_kpis are (re)named as arguments

import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from loyalty.console import kpis
from loyalty.console.kpis import Filters, Period, Rate
from loyalty.console.models import KpiRollupRun
from loyalty.console.rollup import kpi_rollup_build, rollup_latest
from tests.test_kpis import (  # noqa: F401 - fixtures
    DECEMBER,
    JANUARY,
    JANUARY_QUERY,
    LATER,
    at,
    book,
    sale,
    travel,
)

pytestmark = pytest.mark.postgresql  # the rollup job runs on PostgreSQL only


@pytest.fixture
def rollup(book):
    with travel(LATER):
        return kpi_rollup_build()


def _without_buyers(snap):
    """The live snapshot as the rollups give it: distinct buyers are not rolled up."""
    return replace(snap, sales=replace(snap.sales, buyers=None))


def assert_same(period, filters, run, now=LATER):
    live = kpis.dashboard(period, filters, now=now, rollup=False)
    rolled = kpis.dashboard(period, filters, now=now, rollup=run)
    assert rolled.as_of == run.as_of and live.as_of is None
    for f in ("members", "conversion", "sales", "carats", "engagement", "emails"):
        a, b = getattr(rolled.current, f), getattr(_without_buyers(live.current), f)
        if a != b:
            for k in a.__dataclass_fields__:
                assert getattr(a, k) == getattr(b, k), (period, f, k)
    assert rolled.current == _without_buyers(live.current)
    assert rolled.previous == _without_buyers(live.previous)
    assert rolled.cohorts == live.cohorts


PERIODS = [
    JANUARY,
    DECEMBER,
    Period(date(2025, 1, 1), date(2025, 1, 1)),
    Period(date(2025, 1, 4), date(2025, 1, 20)),  # mid-month cohorts and windows
    Period(date(2024, 12, 30), date(2025, 3, 30)),  # weeks
    Period(date(2024, 2, 1), date(2025, 1, 31)),  # months, a whole year
    Period(date(2025, 1, 1), date(2025, 12, 31)),
    Period(date(2023, 1, 1), date(2025, 12, 31)),  # three years
    Period(date(2026, 10, 1), date(2026, 11, 1)),  # today, after everything
]


@pytest.mark.parametrize("period", PERIODS, ids=str)
def test_rollups_give_the_live_numbers_for_every_period(book, rollup, period):
    assert_same(period, Filters(), rollup)


def test_rollups_give_the_live_numbers_for_every_filter(book, rollup, antwerp, london, tiers):
    for filters in [
        Filters(store_id=antwerp.pk),
        Filters(store_id=london.pk),
        Filters(channel="online"),
        Filters(channel="store"),
        Filters(store_id=antwerp.pk, channel="store"),
        Filters(store_id=antwerp.pk, channel="online"),
        *[Filters(tier_id=t.pk) for t in tiers.values()],
        Filters(store_id=antwerp.pk, tier_id=tiers["marquise"].pk),
        Filters(channel="online", tier_id=tiers["radiant"].pk),
    ]:
        for period in (JANUARY, Period(date(2024, 6, 1), date(2025, 6, 30))):
            assert_same(period, filters, rollup)


def test_hand_computed_answers_from_the_rollups(book, rollup, antwerp, tiers):
    """A few of test_kpis' hand-worked answers, read from the rollups."""
    d = kpis.dashboard(JANUARY, now=LATER, rollup=rollup)
    c, p = d.current, d.previous
    assert (c.members.total, c.members.new, c.members.active) == (8, 4, 6)
    assert (p.members.total, p.members.new, p.members.active) == (4, 1, 2)
    assert c.conversion.within == {90: Rate(1, 4), 180: Rate(2, 4), 365: Rate(2, 4)}
    assert c.conversion.median_days == Decimal("118.5")
    assert (c.sales.gross_eur, c.sales.returns_eur, c.sales.revenue_eur) == (
        Decimal("1924.00"),
        Decimal("334.00"),
        Decimal("1590.00"),
    )
    assert (c.sales.orders, c.sales.buyers, c.sales.aov_eur) == (7, None, Decimal("227.14"))
    assert (c.sales.orders_12m, c.sales.active_12m, c.sales.repeat) == (9, 6, Rate(2, 6))
    assert (c.carats.issued, c.carats.redeemed, c.carats.outstanding) == (1924, 200, 3230)
    assert (c.engagement.referred_signups, c.engagement.referred_first_buyers) == (1, 1)
    jan = {r.month: r for r in d.cohorts.rows}[date(2025, 1, 1)]
    assert (jan.members, jan.buyers[0]) == (4, 3)
    shop = kpis.sales_kpis(JANUARY, Filters(store_id=antwerp.pk), rollup=rollup)
    assert (shop.revenue_eur, shop.orders) == (Decimal("1280.00"), 5)
    m = kpis.carat_kpis(JANUARY, Filters(tier_id=tiers["marquise"].pk), rollup=rollup)
    assert (m.issued, m.redeemed, m.expired, m.outstanding) == (630, 200, 50, 1380)


def test_rollups_count_what_was_committed_when_they_ran(book, antwerp):
    """A sale after the run shows once the job has run again."""
    with travel(LATER):
        first = kpi_rollup_build()
    november = Period(date(2026, 11, 1), date(2026, 11, 30))
    sale(book["dan"], LATER + timedelta(hours=1), "70.00", store=antwerp, receipt="D1")
    assert kpis.sales_kpis(november, rollup=first).gross_eur == Decimal("0.00")
    with travel(LATER + timedelta(hours=2)):
        second = kpi_rollup_build()
    assert kpis.sales_kpis(november, rollup=second).gross_eur == Decimal("70.00")
    assert list(KpiRollupRun.objects.all()) == [second]  # older runs are dropped
    assert_same(november, Filters(), second, now=LATER + timedelta(hours=2))


def test_twelve_month_window_and_leap_days(enroll, antwerp):
    """Active and repeating at the end of days around a year after the orders, across
    29 February (the window starts on the same date a year before, 28 February for 29)."""
    with travel(at(2026, 1, 1)):
        a = enroll(email="a@example.com", joined_at=at(2026, 1, 1))
        b = enroll(email="b@example.com", joined_at=at(2026, 1, 1))
    sale(a, at(2027, 2, 28), "10.00", store=antwerp, receipt="A1")
    sale(a, at(2027, 3, 1), "10.00", store=antwerp, receipt="A2")
    sale(b, at(2028, 2, 29), "10.00", store=antwerp, receipt="B1")
    sale(b, at(2028, 2, 29, 18), "10.00", channel="online", receipt="B2")
    sale(b, at(2028, 3, 2), "10.00", channel="online", receipt="B3")
    with travel(at(2030, 1, 1)):
        run = kpi_rollup_build()
    start = date(2027, 2, 25)
    for i in range(800):
        end = start + timedelta(days=i)
        for filters in (Filters(), Filters(store_id=antwerp.pk), Filters(channel="online")):
            until = Period(end, end).end_at
            assert kpis.year_stats(until, filters, rollup=run) == kpis.year_stats(until, filters), (
                end,
                filters,
            )


def test_without_a_recent_rollup_the_dashboard_is_live(book, settings):
    assert rollup_latest() is None
    with travel(LATER):
        kpi_rollup_build()
        assert rollup_latest() is not None
        assert kpis.dashboard(JANUARY, now=LATER).as_of is not None
    settings.CARAT_KPI_ROLLUP_MAX_AGE = 3600
    with travel(LATER + timedelta(hours=2)):
        assert rollup_latest() is None
        assert kpis.dashboard(JANUARY, now=LATER).as_of is None


def test_the_console_reads_the_rollups_and_says_as_of_when(client, marketing, book):
    cache.clear()
    call_command("kpi_rollup")
    run = KpiRollupRun.objects.get()
    page = client.get(reverse("admin:index"), {**JANUARY_QUERY, "refresh": "1"})
    text = page.content.decode()
    assert "€1,590" in text
    assert f"from\n    the rollup of {timezone.localtime(run.as_of):%d %b %H:%M}" in text
    cache.clear()


def test_the_rollup_job_is_scheduled_and_runs_as_a_task(book):
    from django_celery_beat.models import PeriodicTask

    from loyalty.tasks import kpi_rollup

    call_command("setup_periodic_tasks")
    hourly = PeriodicTask.objects.get(name="Bring the dashboard's KPI rollups up to date")
    nightly = PeriodicTask.objects.get(name="Rebuild the dashboard's KPI rollups in full")
    assert (hourly.task, hourly.crontab.minute, hourly.crontab.hour) == (
        "loyalty.kpi_rollup",
        "40",
        "*",
    )
    assert (nightly.task, nightly.crontab.hour, json.loads(nightly.kwargs)) == (
        "loyalty.kpi_rollup",
        "2",
        {"full": True},
    )
    with travel(LATER):
        assert kpi_rollup(**json.loads(nightly.kwargs)).startswith("as of ")
        assert kpi_rollup().startswith("as of ")  # incremental: nothing touched
    assert KpiRollupRun.objects.count() == 1
    assert KpiRollupRun.objects.get().rows["touched_members"] == 0
