"""Read queries about the program: carats not yet spendable, the rewards catalog, vouchers
and clubs as a member sees them, and the balance right after a program booking."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet, Sum
from django.utils import timezone

from campaigns.models import Club, ClubMembership, HeldCarats, Reward, Voucher
from loyalty.kernel.errors import NotFound
from members.models import LedgerEntry, Member

from .services.rewards import clubs_for_member, rewards_for_member


def pending_carats_for(member: Member) -> int:
    """Carats earned but not on the balance yet: pending until the return window has
    passed, or held by the velocity check for a review."""
    total = HeldCarats.objects.filter(
        member=member, status__in=[HeldCarats.Status.PENDING, HeldCarats.Status.HELD]
    ).aggregate(s=Sum("carats"))["s"]
    return int(total or 0)


# --- Rewards ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardOffer:
    """A reward of the catalog as one member sees it."""

    reward: Reward
    stock_left: int | None  # None: unlimited
    affordable: bool


def reward_offers_for(member: Member, *, now: datetime | None = None) -> list[RewardOffer]:
    """The rewards this member may redeem now (never a hidden tier's rewards for other
    members), cheapest first, with what is left in stock and whether the balance covers
    them."""
    return [
        RewardOffer(
            reward=r,
            stock_left=None if r.stock is None else max(r.stock - r.issued_count, 0),
            affordable=member.balance >= r.cost_carats,
        )
        for r in rewards_for_member(member, now=now)
    ]


def reward_by_id(reward_id: int) -> Reward:
    """Any reward by id; whether this member may redeem it is the service's decision (and
    says the same "not available" so hidden rewards are not revealed)."""
    reward = Reward.objects.filter(pk=reward_id).first()
    if reward is None:
        raise NotFound("This reward is not available.", code="unknown_reward")
    return reward


# --- Vouchers ---------------------------------------------------------------------------


def vouchers_for_member(member: Member, *, status: str | None = None) -> QuerySet[Voucher]:
    """The member's vouchers, newest first; optionally only those with one status."""
    vouchers = Voucher.objects.filter(member=member)
    if status:
        vouchers = vouchers.filter(status=status)
    return vouchers.order_by("-issued_at", "-id")


# --- Clubs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClubOffer:
    club: Club
    affordable: bool


def club_offers_for(member: Member) -> list[ClubOffer]:
    """The clubs open to this member (join or renew), with whether the balance covers
    them."""
    return [
        ClubOffer(club=c, affordable=member.balance >= c.cost_carats)
        for c in sorted(clubs_for_member(member), key=lambda c: (c.cost_carats, c.name, c.pk))
    ]


def club_memberships_active(
    member: Member, *, now: datetime | None = None
) -> QuerySet[ClubMembership]:
    """Paid club periods not over yet (a renewal is its own period, starting when the
    current one ends), in order of start."""
    now = now or timezone.now()
    return (
        ClubMembership.objects.filter(member=member, ends_at__gt=now)
        .select_related("club")
        .order_by("started_at", "id")
    )


def club_by_id(club_id: int) -> Club:
    club = Club.objects.filter(pk=club_id).first()
    if club is None:
        raise NotFound("This club is not open to you.", code="unknown_club")
    return club


# --- Balances after a booking -----------------------------------------------------------
# The ledger keys below are the ones campaigns.services.rewards books under. A replay of a
# redemption, a club join or an action then reports the balance right after the first
# booking, not whatever the balance is today, so a replay returns the same body.


def balance_after(key: str | None, member_id: int) -> int:
    """The balance right after the ledger entry `key`; without one (nothing was booked),
    the member's balance now."""
    if key:
        after = LedgerEntry.objects.filter(key=key).values_list("balance_after", flat=True).first()
        if after is not None:
            return after
    return Member.objects.values_list("balance", flat=True).get(pk=member_id)


def balance_after_redemption(voucher: Voucher) -> int:
    return balance_after(f"redeem:{voucher.pk}" if voucher.cost_carats else None, voucher.member_id)


def balance_after_voucher_cancel(voucher: Voucher) -> int:
    return balance_after(f"refund:{voucher.pk}" if voucher.cost_carats else None, voucher.member_id)


def balance_after_club_join(membership: ClubMembership) -> int:
    return balance_after(f"club:{membership.pk}", membership.member_id)


def challenge_stats(challenge) -> dict:
    """Enrolled, completed, completion rate, carats given, and the second-purchase
    conversion of enrolled vs. not enrolled first-time buyers of the same period."""
    from django.db.models import Count, Exists, OuterRef, Q
    from django.utils import timezone

    from campaigns.models import ChallengeEnrolment
    from members.models import Member

    # The control group's rows (held out) are not enrolments: the uplift report reads them.
    enrolments = ChallengeEnrolment.objects.filter(challenge=challenge).exclude(
        status=ChallengeEnrolment.Status.HELD_OUT
    )
    counts = enrolments.aggregate(
        enrolled=Count("id"), completed=Count("id", filter=Q(status="completed"))
    )
    end = challenge.ends_at or timezone.now()
    buyers = Member.objects.filter(
        first_purchase_at__gte=challenge.starts_at, first_purchase_at__lt=end
    ).annotate(enrolled=Exists(enrolments.filter(member=OuterRef("pk"))))
    split = buyers.aggregate(
        e_all=Count("id", filter=Q(enrolled=True)),
        e_second=Count("id", filter=Q(enrolled=True, purchase_count__gte=2)),
        n_all=Count("id", filter=Q(enrolled=False)),
        n_second=Count("id", filter=Q(enrolled=False, purchase_count__gte=2)),
    )

    def pct(a, b):
        return round(100 * a / b, 1) if b else None

    return {
        **counts,
        "completion_rate": pct(counts["completed"], counts["enrolled"]),
        "carats_given": challenge.carats_given,
        "conversion_enrolled": pct(split["e_second"], split["e_all"]),
        "conversion_not_enrolled": pct(split["n_second"], split["n_all"]),
    }
