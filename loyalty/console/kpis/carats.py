"""Carats issued, redeemed, expired and outstanding; the liability; top rewards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Count,
    F,
    Q,
    Sum,
)

from campaigns.models import Voucher
from loyalty.console.models import (
    KpiLedgerDay,
    KpiRollupRun,
)
from members.models import LedgerEntry

from .base import (
    TOP_REWARDS,
    Filters,
    Period,
    Rate,
    _in_days,
    _local_date,
    _members,
    _rolled,
    _scope_members,
    carat_value_eur,
)

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
