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

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from campaigns.models import ClubMembership, MessageLog, Voucher
from loyalty.console.models import (
    KpiActivity,
    KpiCohort,
    KpiFirstOrder,
    KpiLedgerDay,
    KpiMembersDay,
    KpiRollupRun,
    KpiSalesDay,
)
from loyalty.console.rollup import rollup_latest
from members.models import LedgerEntry, Member
from pos.models import Channel, Purchase, Return, Store
from tiers.models import MemberTier, Tier, TierChange

CONVERSION_WINDOWS = (90, 180, 365)
EMAIL_ATTRIBUTION_DAYS = 14
COHORT_MONTHS = 12
TOP_REWARDS = 10
ZERO = Decimal("0.00")

# The e-mail block shows opens, clicks and unsubscribes only for the tracking fields
# MessageLog has (today opened_at, clicked_at, unsubscribed_at): a timestamp set when it
# happened, or a boolean.
OPEN_FIELDS = ("opened_at", "first_opened_at", "opened")
CLICK_FIELDS = ("clicked_at", "first_clicked_at", "clicked")
UNSUBSCRIBE_FIELDS = ("unsubscribed_at", "unsubscribed")


def program_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def carat_value_eur() -> Decimal:
    """What one outstanding carat costs the brand, in EUR (for the liability)."""
    return Decimal(str(getattr(settings, "CARAT_EUR_PER_CARAT", "0.05")))


def _year_before(at: datetime) -> datetime:
    try:
        return at.replace(year=at.year - 1)
    except ValueError:  # 29 February
        return at.replace(year=at.year - 1, day=28)


def _month_start(d: date, back: int = 0) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 - back, 12)
    return date(y, m + 1, 1)


def _local_date(at: datetime) -> date:
    """The local day of a moment (a period's ends are local midnights)."""
    return at.astimezone(program_zone()).date()


# --- period, filters, small value types ---------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days in the program's time zone, both ends inclusive."""

    start: date
    end: date

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("A period ends on or after its start.")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=program_zone())

    @property
    def end_at(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=program_zone())

    def previous(self) -> Period:
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def __str__(self):
        return f"{self.start:%d %b %Y} to {self.end:%d %b %Y}"


@dataclass(frozen=True)
class Filters:
    store_id: int | None = None
    channel: str = ""
    tier_id: int | None = None

    @property
    def sales_only(self) -> bool:
        return bool(self.store_id or self.channel)


@dataclass(frozen=True)
class Rate:
    """A share, kept as its two counts so a test (and a reader) can check it."""

    numerator: int
    denominator: int

    @property
    def value(self) -> Decimal | None:
        if not self.denominator:
            return None
        return Decimal(self.numerator) / Decimal(self.denominator)

    @property
    def percent(self) -> Decimal | None:
        v = self.value
        return None if v is None else (v * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)


def money(value) -> Decimal:
    """A database sum as EUR cents (SQLite, the `make run` database, sums decimals in
    floating point; PostgreSQL is exact and this changes nothing there)."""
    return Decimal(value or 0).quantize(ZERO, ROUND_HALF_UP)


def _ratio(a, b, places: str = "0.01") -> Decimal | None:
    if not b:
        return None
    return (Decimal(a) / Decimal(b)).quantize(Decimal(places), ROUND_HALF_UP)


# --- building blocks ----------------------------------------------------------------


def _tier_members(tier_id: int) -> QuerySet:
    return MemberTier.objects.filter(tier_id=tier_id).values("member_id")


def _scope_members(qs: QuerySet, filters: Filters, member_field: str = "member_id") -> QuerySet:
    """Restrict any member-owned rows to the tier filter (a semi-join, no member join)."""
    if filters.tier_id:
        qs = qs.filter(**{f"{member_field}__in": _tier_members(filters.tier_id)})
    return qs


def _members(filters: Filters) -> QuerySet[Member]:
    qs = Member.objects.all()
    if filters.tier_id:
        qs = qs.filter(status__tier_id=filters.tier_id)
    return qs


def _sales(filters: Filters, since: datetime | None = None, until: datetime | None = None):
    qs = Purchase.objects.all()
    if filters.store_id:
        qs = qs.filter(store_id=filters.store_id)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    return _scope_members(qs, filters)


def _fully_returned(since: datetime | None = None, until: datetime | None = None) -> QuerySet:
    """Ids of sales whose returns add up to the whole sale (in the sale's own currency,
    so no conversion rounding can leave a cent behind). Returns are few: this is a small
    GROUP BY driven from the returns table."""
    qs = Purchase.objects.filter(returns__isnull=False)
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    return (
        qs.values("pk")
        .annotate(returned=Sum("returns__amount"))
        .filter(returned__gte=F("amount"))
        .values("pk")
    )


def _orders(filters: Filters, since: datetime | None, until: datetime | None) -> QuerySet:
    """Sales in [since, until) that are orders (not fully returned), for set scans."""
    return _sales(filters, since, until).exclude(pk__in=_fully_returned(since, until))


def _local_day(expr: str):
    return TruncDate(expr, tzinfo=program_zone())


def _net_by(filters: Filters, period: Period, key: str, key_expr=None) -> dict:
    """Net revenue (sales minus their returns) of the period grouped by `key`."""
    since, until = period.start_at, period.end_at
    sales = _sales(filters, since, until)
    returns = Return.objects.filter(purchase__in=sales.values("pk"))
    gross_expr = key_expr[0] if key_expr else F(key)
    ret_expr = key_expr[1] if key_expr else F(f"purchase__{key}")
    gross = dict(
        sales.annotate(k=gross_expr).values("k").annotate(s=Sum("amount_eur")).values_list("k", "s")
    )
    back = dict(
        returns.annotate(k=ret_expr).values("k").annotate(s=Sum("amount_eur")).values_list("k", "s")
    )
    return {k: money(gross.get(k)) - money(back.get(k)) for k in gross.keys() | back.keys()}


def _rolled(model, filters: Filters, *, sales: bool = True, level: bool = False) -> QuerySet:
    """Rows of a rollup for the filters: tier always; store and channel for the rollups
    of sales (`sales`); rollups by filter level pick their level's rows (`level`)."""
    qs = model.objects.all()
    if filters.tier_id:
        qs = qs.filter(tier_id=filters.tier_id)
    if sales:
        if filters.store_id:
            qs = qs.filter(store_id=filters.store_id)
        if filters.channel:
            qs = qs.filter(channel=filters.channel)
    if level:
        qs = qs.filter(level=("s" if filters.store_id else "") + ("c" if filters.channel else ""))
    return qs


def _in_days(qs: QuerySet, period: Period) -> QuerySet:
    return qs.filter(day__gte=period.start, day__lte=period.end)


@dataclass(frozen=True)
class YearStats:
    """Orders in the 12 months to a moment: shared by 'active members', purchase
    frequency and the repeat purchase rate (one pass over those orders)."""

    orders: int
    members: int  # with at least one order: the active members
    repeaters: int  # who ordered on two or more local days


def year_stats(
    until: datetime, filters: Filters = Filters(), *, rollup: KpiRollupRun | None = None
) -> YearStats:
    if rollup is not None:
        end = _local_date(until)  # exclusive: a local midnight
        start = _local_date(_year_before(until))
        orders = (
            _rolled(KpiSalesDay, filters)
            .filter(day__gte=start, day__lt=end)
            .aggregate(n=Sum("orders"))["n"]
        )
        row = _rolled(KpiActivity, filters, level=True).filter(day__lte=end)
        row = row.aggregate(members=Sum("active"), repeaters=Sum("repeating"))
        return YearStats(orders or 0, row["members"] or 0, row["repeaters"] or 0)
    row = (
        _orders(filters, _year_before(until), until)
        .values("member_id")
        .annotate(n=Count("pk"), days=Count(_local_day("occurred_at"), distinct=True))
        .order_by()
        .aggregate(
            orders=Sum("n"),
            members=Count("member_id"),
            repeaters=Count("member_id", filter=Q(days__gte=2)),
        )
    )
    return YearStats(row["orders"] or 0, row["members"] or 0, row["repeaters"] or 0)


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
    with connection.cursor() as cur:
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


# --- sales --------------------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    key: str
    label: str
    revenue_eur: Decimal


@dataclass(frozen=True)
class SalesKpis:
    orders: int
    buyers: int | None  # distinct buyers; None from the rollups (see the module's notes)
    gross_eur: Decimal
    returns_eur: Decimal
    revenue_eur: Decimal  # member revenue: gross - returns
    aov_eur: Decimal | None  # revenue / orders
    orders_12m: int
    active_12m: int
    frequency: Decimal | None  # orders per active member over the 12 months to the end
    repeat: Rate  # active members who ordered on 2+ days in those 12 months
    by_store: list[Slice]
    by_tier: list[Slice]
    by_channel: list[Slice]
    trend: list[tuple[date, Decimal]]  # net revenue per day (or month for long periods)


def _sales_rolled(period: Period, filters: Filters) -> dict:
    """Totals and net revenue per store, tier and channel from the daily sales rollup:
    one grouped query (a few dozen rows: stores x channels x tiers)."""
    rows = list(
        _in_days(_rolled(KpiSalesDay, filters), period)
        .values("store_id", "channel", "tier_id")
        .annotate(gross=Sum("gross_eur"), back=Sum("returns_eur"), n=Sum("orders"))
        .values_list("store_id", "channel", "tier_id", "gross", "back", "n")
    )
    out = {"gross": ZERO, "returns": ZERO, "orders": 0, "store_id": {}, "tier": {}, "channel": {}}
    for store_id, channel, tier_id, gross, back, n in rows:
        out["gross"] += money(gross)
        out["returns"] += money(back)
        out["orders"] += n or 0
        for key, k in (("store_id", store_id), ("tier", tier_id), ("channel", channel)):
            if key == "tier" and k is None:
                continue  # like the live query: sales of members without a tier status
            out[key][k] = out[key].get(k, ZERO) + money(gross) - money(back)
    return out


def sales_kpis(
    period: Period,
    filters: Filters = Filters(),
    *,
    year: YearStats | None = None,
    rollup: KpiRollupRun | None = None,
) -> SalesKpis:
    since, until = period.start_at, period.end_at
    year = year or year_stats(until, filters, rollup=rollup)
    if rollup is not None:
        rolled = _sales_rolled(period, filters)
        gross, returns = rolled["gross"], rolled["returns"]
        orders = {"n": rolled["orders"], "buyers": None}
        per_store, per_tier, per_channel = rolled["store_id"], rolled["tier"], rolled["channel"]
    else:
        sales = _sales(filters, since, until)
        gross = money(sales.aggregate(s=Sum("amount_eur"))["s"])
        returns = money(
            Return.objects.filter(purchase__in=sales.values("pk")).aggregate(s=Sum("amount_eur"))[
                "s"
            ]
        )
        orders = _orders(filters, since, until).aggregate(
            n=Count("pk"), buyers=Count("member_id", distinct=True)
        )
        per_store = _net_by(filters, period, "store_id")
        per_tier = _net_by(
            filters,
            period,
            "tier",
            (F("member__status__tier_id"), F("purchase__member__status__tier_id")),
        )
        per_channel = _net_by(filters, period, "channel")
    revenue = gross - returns

    stores = {s.pk: s for s in Store.objects.all()}
    by_store = sorted(
        (
            Slice(stores[k].code, stores[k].name, v)
            if k is not None
            else Slice("", "Web shop / no store", v)
            for k, v in per_store.items()
        ),
        key=lambda s: (-s.revenue_eur, s.label),
    )
    tiers = {t.pk: t for t in Tier.objects.all()}
    by_tier = [
        Slice(t.code, t.name, per_tier[t.pk])
        for t in sorted(tiers.values(), key=lambda t: t.rank)
        if t.pk in per_tier
    ]
    labels = dict(Channel.choices)
    by_channel = [
        Slice(k, labels.get(k, k), v) for k, v in sorted(per_channel.items(), key=lambda kv: -kv[1])
    ]
    return SalesKpis(
        orders=orders["n"],
        buyers=orders["buyers"],
        gross_eur=gross,
        returns_eur=returns,
        revenue_eur=revenue,
        aov_eur=_ratio(revenue, orders["n"]),
        orders_12m=year.orders,
        active_12m=year.members,
        frequency=_ratio(year.orders, year.members),
        repeat=Rate(year.repeaters, year.members),
        by_store=by_store,
        by_tier=by_tier,
        by_channel=by_channel,
        trend=revenue_trend(period, filters, rollup=rollup),
    )


def trend_grain(period: Period) -> str:
    """day up to two months, week up to about six months, month beyond."""
    if period.days <= 62:
        return "day"
    if period.days <= 190:
        return "week"
    return "month"


def trend_buckets(period: Period) -> list[date]:
    grain = trend_grain(period)
    if grain == "day":
        return [period.start + timedelta(days=i) for i in range(period.days)]
    if grain == "week":
        first = period.start - timedelta(days=period.start.weekday())  # ISO weeks: Monday
        return [first + timedelta(weeks=i) for i in range((period.end - first).days // 7 + 1)]
    buckets, d = [], _month_start(period.start)
    while d <= period.end:
        buckets.append(d)
        d = _month_start(d, -1)
    return buckets


TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def revenue_trend(
    period: Period, filters: Filters = Filters(), *, rollup: KpiRollupRun | None = None
) -> list[tuple[date, Decimal]]:
    """Net revenue per day, week (Monday) or month (see trend_grain), zero-filled."""
    trunc = TRUNC[trend_grain(period)]
    zone = program_zone()
    if rollup is not None:
        per = {
            (b.date() if isinstance(b, datetime) else b): money(g) - money(r)
            for b, g, r in _in_days(_rolled(KpiSalesDay, filters), period)
            .annotate(b=trunc("day"))
            .values("b")
            .annotate(g=Sum("gross_eur"), r=Sum("returns_eur"))
            .values_list("b", "g", "r")
        }
        return [(b, per.get(b, ZERO)) for b in trend_buckets(period)]
    per = _net_by(
        filters,
        period,
        "bucket",
        (
            trunc("occurred_at", tzinfo=zone),
            trunc("purchase__occurred_at", tzinfo=zone),
        ),
    )
    per = {k.astimezone(zone).date(): v for k, v in per.items()}
    return [(b, per.get(b, ZERO)) for b in trend_buckets(period)]


# --- carats -------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardRow:
    name: str
    vouchers: int
    carats: int


@dataclass(frozen=True)
class CaratKpis:
    issued: int  # credits booked: purchases, bonuses, actions, birthdays, imports, + adjustments
    returned: int  # taken back by returns
    redeemed: int  # spent on rewards and clubs, net of refunds of cancelled vouchers
    expired: int
    adjusted_out: int  # negative manual adjustments
    outstanding: int  # on the members' balances at the period's end
    liability_eur: Decimal  # outstanding x CARAT_EUR_PER_CARAT
    redemption_rate: Rate  # redeemed / issued, in the period
    top_rewards: list[RewardRow]


def outstanding_carats(
    at: datetime, filters: Filters = Filters(), *, rollup: KpiRollupRun | None = None
) -> int:
    """Carats on the balances at `at`: today's balances minus what was booked since.
    (The balance is the ledger's sum, an invariant; the second sum is small for a
    recent `at`.) From the rollup: what was booked before `at`, which is the same."""
    if rollup is not None:
        row = (
            _rolled(KpiLedgerDay, filters, sales=False)
            .filter(day__lt=_local_date(at))
            .aggregate(c=Sum("credit"), d=Sum("debit"))
        )
        return (row["c"] or 0) + (row["d"] or 0)
    balances = _members(filters).aggregate(s=Sum("balance"))["s"] or 0
    since = (
        _scope_members(LedgerEntry.objects.filter(created_at__gte=at), filters).aggregate(
            s=Sum("carats")
        )["s"]
        or 0
    )
    return balances - since


def carat_kpis(
    period: Period, filters: Filters = Filters(), *, rollup: KpiRollupRun | None = None
) -> CaratKpis:
    K = LedgerEntry.Kind
    if rollup is not None:
        net = F("credit") + F("debit")
        row = _in_days(_rolled(KpiLedgerDay, filters, sales=False), period).aggregate(
            issued=Sum("credit", filter=~Q(kind__in=[K.REDEMPTION, K.RETURN])),
            returned=Sum(net, filter=Q(kind=K.RETURN)),
            redeemed=Sum(net, filter=Q(kind=K.REDEMPTION)),
            expired=Sum(net, filter=Q(kind=K.EXPIRY)),
            adjusted_out=Sum("debit", filter=Q(kind=K.ADJUSTMENT)),
        )
    else:
        entries = _scope_members(
            LedgerEntry.objects.filter(
                created_at__gte=period.start_at, created_at__lt=period.end_at
            ),
            filters,
        )
        row = entries.aggregate(
            issued=Sum("carats", filter=Q(carats__gt=0) & ~Q(kind__in=[K.REDEMPTION, K.RETURN])),
            returned=Sum("carats", filter=Q(kind=K.RETURN)),
            redeemed=Sum("carats", filter=Q(kind=K.REDEMPTION)),
            expired=Sum("carats", filter=Q(kind=K.EXPIRY)),
            adjusted_out=Sum("carats", filter=Q(kind=K.ADJUSTMENT, carats__lt=0)),
        )
    issued = row["issued"] or 0
    redeemed = -(row["redeemed"] or 0)
    outstanding = outstanding_carats(period.end_at, filters, rollup=rollup)
    rewards = (
        _scope_members(
            Voucher.objects.filter(
                source="redemption",
                issued_at__gte=period.start_at,
                issued_at__lt=period.end_at,
            ).exclude(status=Voucher.Status.CANCELLED),
            filters,
        )
        .values("reward_id", "title")
        .annotate(n=Count("pk"), carats=Sum("cost_carats"))
        .order_by("-n", "-carats", "title")[:TOP_REWARDS]
    )
    return CaratKpis(
        issued=issued,
        returned=-(row["returned"] or 0),
        redeemed=redeemed,
        expired=-(row["expired"] or 0),
        adjusted_out=-(row["adjusted_out"] or 0),
        outstanding=outstanding,
        liability_eur=(Decimal(outstanding) * carat_value_eur()).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        ),
        redemption_rate=Rate(max(redeemed, 0), issued),
        top_rewards=[RewardRow(r["title"], r["n"], r["carats"] or 0) for r in rewards],
    )


# --- tiers, clubs, referrals --------------------------------------------------------


@dataclass(frozen=True)
class Move:
    reason: str
    from_tier: str
    to_tier: str
    members: int


@dataclass(frozen=True)
class ClubRow:
    name: str
    joined: int  # memberships bought (new or renewed) in the period
    carats: int  # carats paid for them
    active: int  # members in the club at the period's end


@dataclass(frozen=True)
class EngagementKpis:
    upgrades: int
    downgrades: int
    invited: int  # put on an invite-only tier
    revoked: int
    moves: list[Move]
    clubs: list[ClubRow]
    referred_signups: int  # members who joined in the period with a referral
    referred_first_buyers: int  # referred members whose first order is in the period


def engagement_kpis(
    period: Period,
    filters: Filters = Filters(),
    *,
    now: datetime | None = None,
    conversion: ConversionKpis | None = None,
    rollup: KpiRollupRun | None = None,
) -> EngagementKpis:
    since, until = period.start_at, period.end_at
    changes = _scope_members(
        TierChange.objects.filter(changed_at__gte=since, changed_at__lt=until), filters
    ).exclude(reason=TierChange.Reason.JOINED)
    moves = [
        Move(r["reason"], r["from_tier__name"] or "-", r["to_tier__name"], r["n"])
        for r in changes.values("reason", "from_tier__name", "from_tier__rank", "to_tier__name")
        .annotate(n=Count("pk"))
        .order_by("reason", "from_tier__rank", "to_tier__name")
    ]
    per_reason = {}
    for m in moves:
        per_reason[m.reason] = per_reason.get(m.reason, 0) + m.members

    memberships = _scope_members(ClubMembership.objects.all(), filters)
    clubs = [
        ClubRow(r["club__name"], r["joined"], r["carats"] or 0, r["active"])
        for r in memberships.filter(
            Q(created_at__gte=since, created_at__lt=until)
            | Q(started_at__lt=until, ends_at__gt=until)
        )
        .values("club_id", "club__name")
        .annotate(
            joined=Count("pk", filter=Q(created_at__gte=since, created_at__lt=until)),
            carats=Sum("carats_paid", filter=Q(created_at__gte=since, created_at__lt=until)),
            active=Count(
                "member_id", distinct=True, filter=Q(started_at__lt=until, ends_at__gt=until)
            ),
        )
        .order_by("-active", "club__name")
    ]
    if rollup is not None:
        referred_signups = (
            _in_days(_rolled(KpiMembersDay, filters, sales=False), period)
            .filter(referred=True)
            .aggregate(n=Sum("members"))["n"]
            or 0
        )
    else:
        referred_signups = (
            _members(filters)
            .filter(referred_by__isnull=False, joined_at__gte=since, joined_at__lt=until)
            .count()
        )
    if conversion is None:
        conversion = conversion_kpis(period, filters, now=now, rollup=rollup)
    return EngagementKpis(
        upgrades=per_reason.get(TierChange.Reason.UPGRADE, 0),
        downgrades=per_reason.get(TierChange.Reason.DOWNGRADE, 0),
        invited=per_reason.get(TierChange.Reason.INVITED, 0),
        revoked=per_reason.get(TierChange.Reason.REVOKED, 0),
        moves=moves,
        clubs=clubs,
        referred_signups=referred_signups,
        referred_first_buyers=conversion.referred_first_buyers,
    )


# --- e-mails ------------------------------------------------------------------------


def _tracking_field(names: tuple[str, ...]) -> models.Field | None:
    for name in names:
        try:
            return MessageLog._meta.get_field(name)
        except FieldDoesNotExist:
            continue
    return None


def _happened(f: models.Field) -> Q:
    if isinstance(f, models.BooleanField):
        return Q(**{f.name: True})
    return Q(**{f"{f.name}__isnull": False})


@dataclass(frozen=True)
class EmailRow:
    trigger: str
    sent: int
    opened: Rate | None  # of sent; None when opens are not tracked
    clicked: Rate | None
    unsubscribed: Rate | None
    bought: Rate  # sent mails followed by an order within EMAIL_ATTRIBUTION_DAYS
    not_sent: int  # due in the period but skipped (no consent), capped, cancelled or failed


@dataclass(frozen=True)
class EmailKpis:
    rows: list[EmailRow]
    tracks_opens: bool
    tracks_clicks: bool
    tracks_unsubscribes: bool
    window_days: int = EMAIL_ATTRIBUTION_DAYS


NOT_SENT = ("skipped", "capped", "cancelled", "failed")


def email_kpis(period: Period, filters: Filters = Filters()) -> EmailKpis:
    """Per trigger, the mails sent in the period: opens, clicks and unsubscribes (only
    for what MessageLog tracks) and the share followed by an order within N days of
    sending; plus the mails due in the period that did not go out."""
    since, until = period.start_at, period.end_at
    window = timedelta(days=EMAIL_ATTRIBUTION_DAYS)
    orders = (
        _sales(filters)
        .exclude(pk__in=_fully_returned(since, until + window))
        .filter(
            member=OuterRef("member_id"),
            occurred_at__gt=OuterRef("sent_at"),
            occurred_at__lte=OuterRef("sent_at") + window,
        )
    )
    logs = _scope_members(MessageLog.objects.all(), filters)
    sent = logs.filter(status="sent", sent_at__gte=since, sent_at__lt=until).alias(
        bought=Exists(orders)
    )
    tracked = {
        "opened": _tracking_field(OPEN_FIELDS),
        "clicked": _tracking_field(CLICK_FIELDS),
        "unsubscribed": _tracking_field(UNSUBSCRIBE_FIELDS),
    }
    aggregates = {"sent": Count("pk"), "bought": Count("pk", filter=Q(bought=True))}
    for name, f in tracked.items():
        if f is not None:
            aggregates[name] = Count("pk", filter=_happened(f))
    per_trigger = {r["trigger"]: r for r in sent.values("trigger").annotate(**aggregates)}
    missed = dict(
        logs.filter(status__in=NOT_SENT, due_at__gte=since, due_at__lt=until)
        .values("trigger")
        .annotate(n=Count("pk"))
        .values_list("trigger", "n")
    )
    rows = []
    for trigger in sorted(per_trigger.keys() | missed.keys()):
        r = per_trigger.get(trigger, {"sent": 0, "bought": 0})
        rate = {
            name: Rate(r.get(name, 0), r["sent"]) if f is not None else None
            for name, f in tracked.items()
        }
        rows.append(
            EmailRow(
                trigger=trigger,
                sent=r["sent"],
                bought=Rate(r["bought"], r["sent"]),
                not_sent=missed.get(trigger, 0),
                **rate,
            )
        )
    return EmailKpis(
        rows=rows,
        tracks_opens=tracked["opened"] is not None,
        tracks_clicks=tracked["clicked"] is not None,
        tracks_unsubscribes=tracked["unsubscribed"] is not None,
    )


# --- cohorts ------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortRow:
    month: date
    members: int
    buyers: list[int | None]  # per month offset k; None for months not reached yet

    def rate(self, k: int) -> Decimal | None:
        n = self.buyers[k] if k < len(self.buyers) else None
        if n is None or not self.members:
            return None
        return (Decimal(n) * 100 / self.members).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class CohortTable:
    months: int
    rows: list[CohortRow] = field(default_factory=list)


def _cohorts_rolled(first: date, period: Period, filters: Filters) -> tuple[dict, dict]:
    joined = _rolled(KpiMembersDay, filters, sales=False).filter(
        day__gte=first, day__lte=period.end
    )
    sizes = dict(
        joined.annotate(m=TruncMonth("day"))
        .values("m")
        .annotate(n=Sum("members"))
        .values_list("m", "n")
    )
    buyers: dict[tuple[date, int], int] = {}
    for c, p, n in (
        _rolled(KpiCohort, filters, level=True)
        .filter(joined_month__gte=first, day__lte=period.end)
        .values("joined_month", "order_month")
        .annotate(n=Sum("members"))
        .values_list("joined_month", "order_month", "n")
    ):
        buyers[(c, (p.year - c.year) * 12 + p.month - c.month)] = n
    return sizes, buyers


def cohort_retention(
    period: Period, filters: Filters = Filters(), *, rollup: KpiRollupRun | None = None
) -> CohortTable:
    """Members who joined in month M (the 12 months up to the period's end) and placed
    an order in month M+k, as a share of those who joined in M."""
    zone = program_zone()
    last = _month_start(period.end)
    first = _month_start(period.end, COHORT_MONTHS - 1)
    if rollup is not None:
        sizes, buyers = _cohorts_rolled(first, period, filters)
        return _cohort_table(last, sizes, buyers)
    since = datetime.combine(first, time.min, tzinfo=zone)
    until = period.end_at
    joined = _members(filters).filter(joined_at__gte=since, joined_at__lt=until)
    sizes = {
        k.astimezone(zone).date(): n
        for k, n in joined.annotate(m=TruncMonth("joined_at", tzinfo=zone))
        .values("m")
        .annotate(n=Count("pk"))
        .values_list("m", "n")
    }
    active = (
        _orders(filters, since, until)
        .filter(member__joined_at__gte=since, member__joined_at__lt=until)
        .annotate(
            cm=TruncMonth("member__joined_at", tzinfo=zone),
            pm=TruncMonth("occurred_at", tzinfo=zone),
        )
        .values("cm", "pm")
        .annotate(n=Count("member_id", distinct=True))
        .values_list("cm", "pm", "n")
    )
    buyers: dict[tuple[date, int], int] = {}
    for cm, pm, n in active:
        c, p = cm.astimezone(zone).date(), pm.astimezone(zone).date()
        buyers[(c, (p.year - c.year) * 12 + p.month - c.month)] = n
    return _cohort_table(last, sizes, buyers)


def _cohort_table(last: date, sizes: dict, buyers: dict) -> CohortTable:
    rows = []
    for back in range(COHORT_MONTHS - 1, -1, -1):
        month = _month_start(last, back)
        reached = back + 1  # months M .. last
        rows.append(
            CohortRow(
                month=month,
                members=sizes.get(month, 0),
                buyers=[
                    buyers.get((month, k), 0) if k < reached else None for k in range(COHORT_MONTHS)
                ],
            )
        )
    return CohortTable(months=COHORT_MONTHS, rows=rows)


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
