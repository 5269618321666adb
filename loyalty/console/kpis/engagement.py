"""Tier movement, clubs, referrals, e-mail results and monthly cohorts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Q,
    Sum,
)
from django.db.models.functions import TruncMonth

from campaigns.models import ClubMembership, MessageLog
from loyalty.console.models import (
    KpiCohort,
    KpiMembersDay,
    KpiRollupRun,
)
from tiers.models import TierChange

from .base import (
    CLICK_FIELDS,
    COHORT_MONTHS,
    EMAIL_ATTRIBUTION_DAYS,
    OPEN_FIELDS,
    UNSUBSCRIBE_FIELDS,
    Filters,
    Period,
    Rate,
    _fully_returned,
    _in_days,
    _members,
    _month_start,
    _orders,
    _rolled,
    _sales,
    _scope_members,
    program_zone,
)
from .customers import ConversionKpis, conversion_kpis

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
