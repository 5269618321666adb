"""Read queries about tiers."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from loyalty.kernel.config import cached
from loyalty.kernel.errors import DomainError
from members.models import Member

from .models import MemberTier, Tier
from .qualifying import qualification_window_start, qualifying_carats, target_tier


def auto_tiers():
    """Tiers reached by qualifying carats (not invite-only), lowest first."""
    return Tier.objects.filter(invite_only=False).order_by("rank")


def _auto_tier_list() -> list[Tier]:
    return cached("auto_tiers", lambda: list(auto_tiers()))


def entry_tier() -> Tier:
    tiers = _auto_tier_list()
    tier = tiers[0] if tiers else None
    if tier is None:
        raise DomainError("The program has no tiers yet; create one in the admin.")
    return tier


def target_tier_for(qualifying: int) -> Tier | None:
    return target_tier(_auto_tier_list(), qualifying)


def tier_by_id(pk: int) -> Tier:
    """A tier from the cached configuration (tiers change rarely, sales read them often)."""
    tiers = cached("tiers_by_id", lambda: {t.pk: t for t in Tier.objects.all()})
    tier = tiers.get(pk)
    return tier if tier is not None else Tier.objects.get(pk=pk)


def top_public_rank() -> int:
    """The rank of the highest tier reachable by carats (0 if there is none)."""
    return max((t.rank for t in _auto_tier_list()), default=0)


def upgrade_target(*, current: Tier, qualifying: int | None) -> Tier | None:
    """The higher tier `qualifying` carats reach from `current`, if any. Invite-only tiers
    are never left or reached by carats."""
    if qualifying is None or current.invite_only:
        return None
    target = target_tier_for(qualifying)
    return target if target is not None and target.rank > current.rank else None


def member_tier(member: Member) -> Tier:
    status = MemberTier.objects.select_related("tier").filter(member=member).first()
    return status.tier if status else entry_tier()


@dataclass(frozen=True)
class Progress:
    tier: Tier
    qualifying: int
    next_tier: Tier | None
    carats_to_next: int | None
    percent: int
    hold_until: datetime | None


def member_progress(member: Member, *, now: datetime | None = None) -> Progress:
    """Where the member stands and what the next *public* tier needs. Hidden tiers are
    never offered as a next step."""
    now = now or timezone.now()
    status = MemberTier.objects.select_related("tier").filter(member=member).first()
    tier = status.tier if status else entry_tier()
    earned = qualifying_carats(member, since=qualification_window_start(now))
    return progress_for(tier, earned, status.hold_until if status else None)


def progress_for(tier: Tier, earned: int, hold_until: datetime | None) -> Progress:
    """The progress of a member on `tier` with `earned` qualifying carats."""
    higher = [t for t in _auto_tier_list() if t.public and t.rank > tier.rank]
    nxt = min(higher, key=lambda t: t.rank) if higher else None
    if nxt is None:
        return Progress(tier, earned, None, None, 100, hold_until)
    to_go = max(nxt.threshold - earned, 0)
    base = tier.threshold if not tier.invite_only else 0
    span = max(nxt.threshold - base, 1)
    percent = min(100, max(0, int((earned - base) * 100 / span)))
    return Progress(tier, earned, nxt, to_go, percent, hold_until)


def public_tiers() -> QuerySet[Tier]:
    """The tiers clients may show, lowest first. Hidden tiers (Ambassador) never appear."""
    return Tier.objects.filter(public=True).order_by("rank")


def tiers_in_use(tier_ids) -> dict[int, list[str]]:
    """What uses each of these tiers: every row that points at it (a member's status, the
    tier history, invitations, and the rewards, clubs and rules of the higher apps, found
    through the model's reverse relations so a new one counts too). A tier in use is never
    deleted: the rows would go with it (or a reward limited to it would be open to all)."""
    tier_ids = list(tier_ids)
    usage: dict[int, list[str]] = {}
    for rel in Tier._meta.related_objects:
        model = rel.related_model
        if rel.many_to_many:  # the link table: reward <-> tier
            rows, column = rel.through.objects, f"{rel.field.m2m_reverse_field_name()}_id"
        else:
            rows, column = model._default_manager, rel.field.attname
        used = rows.filter(**{f"{column}__in": tier_ids}).values_list(column, flat=True)
        for tier_id in set(used.distinct()):
            usage.setdefault(tier_id, []).append(str(model._meta.verbose_name_plural))
    return usage
