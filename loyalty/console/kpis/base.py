"""What every block uses: the program's zone, periods, filters, rates, the sales and
orders of a scope, and the 12-month figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Count,
    F,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate

from loyalty.console.models import (
    KpiActivity,
    KpiRollupRun,
    KpiSalesDay,
)
from members.models import Member
from pos.models import Purchase, Return
from tiers.models import MemberTier

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
