"""Members, new and active, and the second-purchase conversion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, connections, models
from django.db.models import (
    Case,
    Count,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from loyalty.console.models import (
    KpiFirstOrder,
    KpiMembersDay,
    KpiRollupRun,
)
from loyalty.kernel.replica import reading_alias
from members.models import Member
from pos.models import Purchase
from tiers.models import MemberTier, Tier

from .base import (
    CONVERSION_WINDOWS,
    Filters,
    Period,
    Rate,
    YearStats,
    _fully_returned,
    _local_day,
    _members,
    _orders,
    _rolled,
    _scope_members,
    year_stats,
)

# --- members ------------------------------------------------------------------------


@dataclass(frozen=True)
class TierCount:
    code: str
    name: str
    color: str
    members: int
    invite_only: bool


@dataclass(frozen=True)
class MemberKpis:
    total: int  # joined before the period's end
    new: int  # joined in the period
    active: int  # with an order in the 12 months to the period's end (store/channel apply)
    by_tier: list[TierCount]  # current tier of the members who had joined by the end
    ambassadors: int  # members on an invite-only tier now


def member_kpis(
    period: Period,
    filters: Filters = Filters(),
    *,
    year: YearStats | None = None,
    rollup: KpiRollupRun | None = None,
) -> MemberKpis:
    end = period.end_at
    year = year or year_stats(end, filters, rollup=rollup)
    if rollup is not None:
        joined = _rolled(KpiMembersDay, filters, sales=False)
        counts = joined.aggregate(
            total=Sum("members", filter=Q(day__lte=period.end)),
            new=Sum("members", filter=Q(day__gte=period.start, day__lte=period.end)),
        )
        counts = {k: v or 0 for k, v in counts.items()}
        statuses = joined.filter(tier_id__isnull=False)
        if end <= timezone.now():  # a past period: only those who had joined by then
            statuses = statuses.filter(day__lte=period.end)
        per_tier = dict(
            statuses.values("tier_id").annotate(n=Sum("members")).values_list("tier_id", "n")
        )
    else:
        counts = _members(filters).aggregate(
            total=Count("pk", filter=Q(joined_at__lt=end)),
            new=Count("pk", filter=Q(joined_at__gte=period.start_at, joined_at__lt=end)),
        )
        statuses = MemberTier.objects.all()
        if end <= timezone.now():  # a past period: only those who had joined by then
            statuses = statuses.filter(member__joined_at__lt=end)
        per_tier = dict(
            _scope_members(statuses, filters)
            .values("tier_id")
            .annotate(n=Count("pk"))
            .values_list("tier_id", "n")
        )
    tiers = Tier.objects.order_by("rank")
    if filters.tier_id:
        tiers = tiers.filter(pk=filters.tier_id)
    by_tier = [
        TierCount(t.code, t.name, t.color, per_tier.get(t.pk, 0), t.invite_only) for t in tiers
    ]
    return MemberKpis(
        total=counts["total"],
        new=counts["new"],
        active=year.members,
        by_tier=by_tier,
        ambassadors=sum(t.members for t in by_tier if t.invite_only),
    )


# --- second purchase ----------------------------------------------------------------


@dataclass(frozen=True)
class ConversionKpis:
    first_buyers: int  # members whose first order ever is in the period
    within: dict[int, Rate]  # days -> second order within N days, of those N days along
    converted: int  # first buyers with a second order so far
    median_days: Decimal | None  # days from the first to the second order (median)
    referred_first_buyers: int  # first buyers who were referred by a member


def _sql(qs: QuerySet) -> tuple[str, list]:
    sql, params = qs.query.get_compiler(qs.db).as_sql()
    return sql, list(params)


def _db_value(moment: datetime):
    """A datetime parameter for raw SQL as the ORM would send it (UTC text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(moment)


# Days from the first order's local day to the second's, per database (the `make run`
# demo runs on SQLite, production and the tests on PostgreSQL).
_GAP = {
    "postgresql": "MIN(o.day) - c.first_day",
    "sqlite": "CAST(julianday(MIN(o.day)) - julianday(c.first_day) AS INTEGER)",
}


def _first_buyer_histogram(period: Period, filters: Filters, *, now: datetime) -> list[tuple]:
    """One grouped query over the period's first-time buyers: rows of (days to the
    second order or None, old enough for 90/180/365 days, referred, members).

    Who: members with an order in the period (at the filtered store/channel) whose
    first order ever falls in the period; with a store or channel filter that first
    order must have been placed there, while the second may be anywhere. The second
    order is the first one on a later local day (an order on the same day is the same
    visit). The orders of the candidates are read once through the (member_id,
    occurred_at) index and grouped; no per-member query."""
    since, until = period.start_at, period.end_at
    candidates = _orders(filters, since, until).values("member_id")
    history = (
        Purchase.objects.filter(member_id__in=candidates)
        .exclude(pk__in=_fully_returned())
        .annotate(day=_local_day("occurred_at"))
        .values_list("member_id", "occurred_at", "store_id", "channel", "day")
    )
    o_sql, o_params = _sql(history)
    here, here_params = ["1 = 1"], []
    if filters.store_id:
        here, here_params = ["o.store_id = %s"], [filters.store_id]
    if filters.channel:
        here.append("o.channel = %s")
        here_params.append(filters.channel)
    gap = _GAP.get(connection.vendor)
    if gap is None:  # pragma: no cover - the project runs on PostgreSQL and SQLite only
        raise NotImplementedError(f"conversion KPIs on {connection.vendor}")
    members = Member._meta.db_table
    sql = f"""
        WITH o (member_id, occurred_at, store_id, channel, day) AS ({o_sql}),
        f AS (SELECT member_id, MIN(occurred_at) AS first_at FROM o GROUP BY member_id),
        c AS (
            SELECT f.member_id, f.first_at, MIN(o.day) AS first_day,
                   MAX(CASE WHEN {" AND ".join(here)} THEN 1 ELSE 0 END) AS here
            FROM f JOIN o ON o.member_id = f.member_id AND o.occurred_at = f.first_at
            WHERE f.first_at >= %s AND f.first_at < %s
            GROUP BY f.member_id, f.first_at
        ),
        s AS (
            SELECT c.member_id, c.first_at, {gap} AS gap
            FROM c LEFT JOIN o ON o.member_id = c.member_id AND o.day > c.first_day
            WHERE c.here = 1
            GROUP BY c.member_id, c.first_at, c.first_day
        )
        SELECT s.gap,
               CASE WHEN s.first_at <= %s THEN 1 ELSE 0 END,
               CASE WHEN s.first_at <= %s THEN 1 ELSE 0 END,
               CASE WHEN s.first_at <= %s THEN 1 ELSE 0 END,
               CASE WHEN m.referred_by_id IS NULL THEN 0 ELSE 1 END,
               COUNT(*)
        FROM s JOIN {members} m ON m.id = s.member_id
        GROUP BY 1, 2, 3, 4, 5
    """  # noqa: S608 - table name from model metadata; every value is a parameter
    params = [
        *o_params,
        *here_params,
        _db_value(since),
        _db_value(until),
        *[_db_value(now - timedelta(days=d)) for d in CONVERSION_WINDOWS],
    ]
    with connections[reading_alias()].cursor() as cur:  # the replica's, in replica_reads()
        cur.execute(sql, params)
        return cur.fetchall()


def _first_buyer_histogram_rolled(
    period: Period, filters: Filters, *, now: datetime
) -> list[tuple]:
    """The same rows as _first_buyer_histogram, from the buyers' first-order facts (one
    row per store and channel of a member's first order: members are counted once)."""
    old_enough = {
        f"old{d}": Case(
            When(first_at__lte=now - timedelta(days=d), then=Value(1)),
            default=Value(0),
            output_field=models.IntegerField(),
        )
        for d in CONVERSION_WINDOWS
    }
    facts = _rolled(KpiFirstOrder, filters).filter(
        first_at__gte=period.start_at, first_at__lt=period.end_at
    )
    # Several rows of a member only with a store or channel filter; else their lead row.
    n = Count("member_id", distinct=True) if filters.sales_only else Count("pk")
    if not filters.sales_only:
        facts = facts.filter(lead=True)
    rows = (
        facts.annotate(gap=F("second_day") - F("first_day"), **old_enough)
        .values("gap", *old_enough, "referred")
        .annotate(n=n)
        .values_list("gap", *old_enough, "referred", "n")
    )
    return [
        (None if gap is None else _days(gap), *flags, int(referred), n)
        for gap, *flags, referred, n in rows
    ]


def _days(gap) -> int:
    """A difference of two dates from the database: an interval (timedelta) or days."""
    return gap.days if isinstance(gap, timedelta) else int(gap)


def conversion_kpis(
    period: Period,
    filters: Filters = Filters(),
    *,
    now: datetime | None = None,
    rollup: KpiRollupRun | None = None,
) -> ConversionKpis:
    """Second-purchase conversion of the period's first-time buyers.

    A window of N days only counts first buyers whose first order is at least N days
    old (otherwise a recent period would always look worse than an old one)."""
    now = now or timezone.now()
    if rollup is not None:
        rows = _first_buyer_histogram_rolled(period, filters, now=now)
    else:
        rows = _first_buyer_histogram(period, filters, now=now)
    first_buyers = converted = referred = 0
    mature = dict.fromkeys(CONVERSION_WINDOWS, 0)
    within = dict.fromkeys(CONVERSION_WINDOWS, 0)
    gaps: dict[int, int] = {}
    for gap, *old_enough, was_referred, n in rows:
        first_buyers += n
        referred += n if was_referred else 0
        if gap is not None:
            gap = int(gap)
            converted += n
            gaps[gap] = gaps.get(gap, 0) + n
        for days, ok in zip(CONVERSION_WINDOWS, old_enough, strict=True):
            if ok:
                mature[days] += n
                if gap is not None and gap <= days:
                    within[days] += n
    return ConversionKpis(
        first_buyers=first_buyers,
        within={d: Rate(within[d], mature[d]) for d in CONVERSION_WINDOWS},
        converted=converted,
        median_days=_median(gaps),
        referred_first_buyers=referred,
    )


def _median(histogram: dict[int, int]) -> Decimal | None:
    """The median of values given as {value: count}."""
    n = sum(histogram.values())
    if not n:
        return None
    wanted = {(n - 1) // 2, n // 2}  # the middle one, or the middle two
    found, seen = [], 0
    for value in sorted(histogram):
        count = histogram[value]
        found += [value] * len({i for i in wanted if seen <= i < seen + count})
        seen += count
    return (Decimal(sum(found)) / len(found)).quantize(Decimal("0.1"), ROUND_HALF_UP)
