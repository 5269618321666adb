"""The whole dashboard: every block for a period and the one before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from loyalty.console.models import (
    KpiRollupRun,
)
from loyalty.console.rollup import rollup_latest

from .base import Filters, Period, year_stats
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


@dataclass(frozen=True)
class Dashboard:
    current: Snapshot
    previous: Snapshot
    cohorts: CohortTable
    filters: Filters
    computed_at: datetime
    as_of: datetime | None = None  # the rollups' moment, when read from them


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
    return Dashboard(
        current=snapshot(period, filters, now=now, rollup=run),
        previous=snapshot(period.previous(), filters, now=now, rollup=run),
        cohorts=cohort_retention(period, filters, rollup=run),
        filters=filters,
        computed_at=now,
        as_of=run.as_of if run else None,
    )
