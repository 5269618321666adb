"""The whole dashboard: every block for a period and the one before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from loyalty.console.models import (
    KpiRollupRun,
)
from loyalty.console.rollup import rollup_latest

from .base import CONVERSION_WINDOWS, Filters, Period, year_stats
from .carats import CaratKpis, carat_kpis
from .customers import ConversionKpis, MemberKpis, conversion_kpis, member_kpis
from .engagement import (
    CohortTable,
    EmailKpis,
    EngagementKpis,
    cohort_retention,
    email_kpis,
    engagement_kpis,
)
from .sales import SalesKpis, sales_kpis

# --- the whole dashboard ------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every block for one period."""

    period: Period
    members: MemberKpis
    conversion: ConversionKpis
    sales: SalesKpis
    carats: CaratKpis
    engagement: EngagementKpis
    emails: EmailKpis


def snapshot(
    period: Period,
    filters: Filters = Filters(),
    *,
    now: datetime | None = None,
    rollup: KpiRollupRun | None = None,
):
    conversion = conversion_kpis(period, filters, now=now, rollup=rollup)
    year = year_stats(period.end_at, filters, rollup=rollup)
    return Snapshot(
        period=period,
        members=member_kpis(period, filters, year=year, rollup=rollup),
        conversion=conversion,
        sales=sales_kpis(period, filters, year=year, rollup=rollup),
        carats=carat_kpis(period, filters, rollup=rollup),
        engagement=engagement_kpis(period, filters, now=now, conversion=conversion, rollup=rollup),
        emails=email_kpis(period, filters),
    )


def earlier_buyers(period: Period) -> Period:
    """The first-time buyers whose second-purchase conversion can be read at the end of
    `period`: the twelve months that end the shortest window (90 days) before it. A
    short period's own first buyers are too recent for any window; these are not."""
    end = period.end - timedelta(days=min(CONVERSION_WINDOWS))
    return Period(end - timedelta(days=364), end)


@dataclass(frozen=True)
class Dashboard:
    current: Snapshot
    previous: Snapshot
    cohorts: CohortTable
    filters: Filters
    computed_at: datetime
    as_of: datetime | None = None  # the rollups' moment, when read from them
    # The conversion of the earlier first-time buyers (earlier_buyers): one query more.
    earlier: ConversionKpis | None = None
    earlier_period: Period | None = None


def dashboard(
    period: Period,
    filters: Filters = Filters(),
    *,
    now: datetime | None = None,
    rollup: KpiRollupRun | bool | None = True,
):
    """Every block for the period and the one before, and the cohorts. `rollup`: True
    reads the latest rollups if they are recent (else live), False computes live, or
    pass a run."""
    now = now or timezone.now()
    if rollup is True:
        rollup = rollup_latest()
    run = rollup or None
    earlier = earlier_buyers(period)
    return Dashboard(
        current=snapshot(period, filters, now=now, rollup=run),
        previous=snapshot(period.previous(), filters, now=now, rollup=run),
        cohorts=cohort_retention(period, filters, rollup=run),
        filters=filters,
        computed_at=now,
        as_of=run.as_of if run else None,
        earlier=conversion_kpis(earlier, filters, now=now, rollup=run),
        earlier_period=earlier,
    )
