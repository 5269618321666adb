"""The member 360's summary: what marketing wants to see first about one member.

Reads only (a selector): a handful of small queries, each bounded by the member's own
indexes (purchases, ledger, vouchers, clubs, messages of one member), so the member page
stays fast at a million members. The member comes in with its tier status and login
already joined (MemberAdmin.get_object).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Max
from django.utils import timezone

from campaigns.models import ClubMembership, MessageLog, Voucher
from members.models import Member
from members.predictions.selectors import member_prediction
from pos.models import Purchase
from tiers.qualifying import qualification_window_start, qualifying_carats
from tiers.selectors import Progress, entry_tier, progress_for

RECENT_MESSAGES = 5
OPEN_VOUCHERS = 5
ACTIVE_CLUBS = 5


@dataclass(frozen=True)
class FavouriteStore:
    name: str
    orders: int
    last_at: datetime | None


@dataclass(frozen=True)
class MemberSummary:
    member: Member
    lifetime_eur: Decimal
    orders: int
    average_order_eur: Decimal | None
    progress: Progress
    last_visit: datetime | None
    favourite_store: FavouriteStore | None
    vouchers: list[Voucher] = field(default_factory=list)
    more_vouchers: bool = False
    clubs: list[ClubMembership] = field(default_factory=list)
    messages: list[MessageLog] = field(default_factory=list)
    # The slot for predictions (P(alive), expected value): None renders nothing.
    predictions: object | None = None


def average_order(spend: Decimal, orders: int) -> Decimal | None:
    if orders <= 0:
        return None
    return (Decimal(spend) / orders).quantize(Decimal("0.01"), ROUND_HALF_UP)


def member_tier_progress(member: Member, *, now: datetime) -> Progress:
    """The tier, the qualifying carats of the last 12 months and the next public tier
    (hidden tiers are never a next step). One query: the member's status is joined."""
    status = getattr(member, "status", None)
    tier = status.tier if status else entry_tier()
    earned = qualifying_carats(member, since=qualification_window_start(now))
    return progress_for(tier, earned, status.hold_until if status else None)


def favourite_store(member: Member) -> FavouriteStore | None:
    """The store where the member bought most often (online orders are not a store)."""
    row = (
        Purchase.objects.filter(member=member, store__isnull=False)
        .values("store__name")
        .annotate(n=Count("pk"), last=Max("occurred_at"))
        .order_by("-n", "-last")
        .first()
    )
    return FavouriteStore(row["store__name"], row["n"], row["last"]) if row else None


def member_predictions(member: Member) -> object | None:
    """The predictions shown on the member page (P(alive), expected orders and value,
    12-month CLV) from the last nightly run; None (no card) for a member who never bought."""
    return member_prediction(member)


def member_summary(member: Member, *, now: datetime | None = None) -> MemberSummary:
    now = now or timezone.now()
    vouchers = list(
        Voucher.objects.filter(member=member, status=Voucher.Status.ISSUED, valid_until__gt=now)
        .order_by("valid_until", "pk")
        .only("code", "title", "valid_until", "member_id")[: OPEN_VOUCHERS + 1]
    )
    clubs = list(
        ClubMembership.objects.filter(member=member, ends_at__gt=now)
        .select_related("club")
        .order_by("ends_at")[:ACTIVE_CLUBS]
    )
    messages = list(
        MessageLog.objects.filter(member=member)
        .order_by("-created_at", "-pk")
        .only("trigger", "subject", "status", "created_at", "sent_at", "opened_at", "member_id")[
            :RECENT_MESSAGES
        ]
    )
    spend = member.lifetime_spend_eur or Decimal("0")
    return MemberSummary(
        member=member,
        lifetime_eur=spend,
        orders=member.purchase_count,
        average_order_eur=average_order(spend, member.purchase_count),
        progress=member_tier_progress(member, now=now),
        last_visit=member.last_purchase_at,
        favourite_store=favourite_store(member),
        vouchers=vouchers[:OPEN_VOUCHERS],
        more_vouchers=len(vouchers) > OPEN_VOUCHERS,
        clubs=clubs,
        messages=messages,
        predictions=member_predictions(member),
    )
