"""Revenue, orders, AOV, repeat rate, by store, channel and tier; the revenue trend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    F,
    Sum,
)
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from loyalty.console.models import (
    KpiRollupRun,
    KpiSalesDay,
)
from pos.models import Channel, Return, Store
from tiers.models import Tier

from .base import (
    ZERO,
    Filters,
    Period,
    Rate,
    YearStats,
    _in_days,
    _month_start,
    _net_by,
    _orders,
    _ratio,
    _rolled,
    _sales,
    money,
    program_zone,
    year_stats,
)

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
