"""The CRM console's KPIs: read-only, set-based queries over the sales and the ledger.

Every number is one aggregate query (or a handful) computed by the database; nothing
loads members, sales or ledger lines into Python. Results are small: counts, sums and
grouped rows (per store, tier, trigger, month, days-to-second-order). The queries are
the ORM's, except the second-purchase one: a CTE over ORM-compiled parts, written for
PostgreSQL (production, tests) and SQLite (`make run`).

Conventions used by every block (the README's KPI list repeats them):
- A period is a range of whole days in the program's time zone (settings.TIME_ZONE),
  start and end inclusive; the previous period is as many days just before it.
- Money is EUR: each sale's `amount_eur` (converted at the rate of the sale's day), net
  of its returns (`Return.amount_eur`, at the sale's rate). A return counts against its
  sale's date, so a period's revenue is the net value of the sales made in it.
- An *order* is a sale that was not fully returned (returns adding up to its whole
  amount). Members with no order simply do not count as buyers.
- Two orders on the same calendar day are one visit: a second purchase, and a repeat
  purchase, is one on a later day.
- Filters: store and channel restrict the sales; tier restricts the members (by their
  current tier) everywhere. Carats, tiers, clubs and e-mails are not store-bound, so
  only the tier filter applies to them (an e-mail's attributed purchases do follow
  the store and channel filters).
- Carats are counted by when they were booked (`LedgerEntry.created_at`), which is when
  they became a liability.

Two sources, one set of definitions. Live, every block queries the raw tables (the
functions below without `rollup`). At a million members the dashboard reads instead the
rollups of loyalty.console.rollup (`rollup=` the latest run): small per-day facts rebuilt every
hour by a job, which give the same numbers as the live queries for what had been
committed when the job ran (`KpiRollupRun.as_of`; tests compare both). Then "current
tier" means the tier at that moment, and the distinct buyers of an arbitrary period
(not shown on the page) are left out: `SalesKpis.buyers` is None.
"""

from .base import (
    CLICK_FIELDS,
    COHORT_MONTHS,
    CONVERSION_WINDOWS,
    EMAIL_ATTRIBUTION_DAYS,
    OPEN_FIELDS,
    TOP_REWARDS,
    UNSUBSCRIBE_FIELDS,
    ZERO,
    Filters,
    Period,
    Rate,
    YearStats,
    carat_value_eur,
    money,
    program_zone,
    year_stats,
)
from .board import (
    Dashboard,
    Snapshot,
    dashboard,
    snapshot,
)
from .carats import (
    CaratKpis,
    RewardRow,
    carat_kpis,
    outstanding_carats,
)
from .customers import (
    ConversionKpis,
    MemberKpis,
    TierCount,
    conversion_kpis,
    member_kpis,
)
from .engagement import (
    NOT_SENT,
    ClubRow,
    CohortRow,
    CohortTable,
    EmailKpis,
    EmailRow,
    EngagementKpis,
    Move,
    cohort_retention,
    email_kpis,
    engagement_kpis,
)
from .sales import (
    TRUNC,
    SalesKpis,
    Slice,
    revenue_trend,
    sales_kpis,
    trend_buckets,
    trend_grain,
)

__all__ = [
    "CLICK_FIELDS",
    "COHORT_MONTHS",
    "CONVERSION_WINDOWS",
    "EMAIL_ATTRIBUTION_DAYS",
    "NOT_SENT",
    "OPEN_FIELDS",
    "TOP_REWARDS",
    "TRUNC",
    "UNSUBSCRIBE_FIELDS",
    "ZERO",
    "CaratKpis",
    "ClubRow",
    "CohortRow",
    "CohortTable",
    "ConversionKpis",
    "Dashboard",
    "EmailKpis",
    "EmailRow",
    "EngagementKpis",
    "Filters",
    "MemberKpis",
    "Move",
    "Period",
    "Rate",
    "RewardRow",
    "SalesKpis",
    "Slice",
    "Snapshot",
    "TierCount",
    "YearStats",
    "carat_kpis",
    "carat_value_eur",
    "cohort_retention",
    "conversion_kpis",
    "dashboard",
    "email_kpis",
    "engagement_kpis",
    "member_kpis",
    "money",
    "outstanding_carats",
    "program_zone",
    "revenue_trend",
    "sales_kpis",
    "snapshot",
    "trend_buckets",
    "trend_grain",
    "year_stats",
]
