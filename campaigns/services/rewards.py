"""Rewards catalog, vouchers and clubs: spending carats."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from campaigns.models import Club, ClubMembership, Reward, Voucher
from loyalty.kernel.errors import Conflict, DomainError, NotFound, UnknownMember
from loyalty.kernel.webhooks import emit
from members.models import LedgerEntry, Member, User
from members.services import ledger_post, member_lock
from tiers.models import Tier
from tiers.selectors import member_tier

_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_voucher_code() -> str:
    body = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
    return f"V{body[:5]}-{body[5:]}"


def visible_to_tier(obj, tier: Tier) -> bool:
    """Empty tier list = every public tier. A hidden tier sees what names it, plus what
    is open to everyone (an Ambassador keeps the public catalog)."""
    tier_ids = {t.pk for t in obj.tiers.all()}
    if not tier_ids:
        return True
    return tier.pk in tier_ids


def rewards_for_member(member: Member, *, now: datetime | None = None) -> list[Reward]:
    now = now or timezone.now()
    tier = member_tier(member)
    rewards = (
        Reward.objects.filter(active=True, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .prefetch_related("tiers")
    )
    return [r for r in rewards if visible_to_tier(r, tier)]


def voucher_event(voucher: Voucher) -> dict:
    return {
        "member": voucher.member.member_number,
        "code": voucher.code,
        "title": voucher.title,
        "kind": voucher.kind,
        "value": str(voucher.value),
        "status": voucher.status,
        "valid_until": voucher.valid_until.isoformat(),
        "source": voucher.source,
    }


def _issue_voucher(
    *, member, reward, title, kind, value, cost, source, valid_days, request_key=None
):
    voucher = _create_voucher(
        member=member,
        reward=reward,
        title=title,
        kind=kind,
        value=value,
        cost=cost,
        source=source,
        valid_days=valid_days,
        request_key=request_key,
    )
    emit("voucher.issued", member_id=member.pk, data=voucher_event(voucher))
    return voucher


def _create_voucher(
    *, member, reward, title, kind, value, cost, source, valid_days, request_key=None
):
    for _ in range(5):
        try:
            with transaction.atomic():
                return Voucher.objects.create(
                    code=new_voucher_code(),
                    member=member,
                    reward=reward,
                    title=title,
                    kind=kind,
                    value=value,
                    cost_carats=cost,
                    source=source,
                    request_key=request_key,
                    valid_until=timezone.now() + timedelta(days=valid_days),
                )
        except IntegrityError:
            if request_key and Voucher.objects.filter(request_key=request_key).exists():
                raise
    raise DomainError("Could not issue a voucher code, try again.")  # pragma: no cover


@dataclass(frozen=True)
class Redemption:
    voucher: Voucher
    created: bool


def reward_redeem(
    *, member: Member, reward: Reward, actor: User | None = None, request_key: str | None = None
) -> Redemption:
    """Spend carats on a reward: debit, take one from stock, issue a voucher.

    Never oversold, never negative, under any concurrency: the member's row is locked
    (per-member limit), stock moves by a conditional UPDATE (and a CHECK backs it), the
    debit by the ledger's conditional UPDATE. A replay of `request_key` returns the first
    voucher."""
    if request_key:
        existing = Voucher.objects.filter(request_key=request_key).first()
        if existing is not None:
            if existing.member_id != member.pk or existing.reward_id != reward.pk:
                raise Conflict("This request key was used for another redemption.")
            return Redemption(existing, False)
    now = timezone.now()
    try:
        with transaction.atomic():
            member_lock(member.pk)  # an erased member: UnknownMember
            reward = Reward.objects.prefetch_related("tiers").get(pk=reward.pk)
            if (
                not reward.active
                or reward.starts_at > now
                or (reward.ends_at and reward.ends_at <= now)
                or not visible_to_tier(reward, member_tier(member))
            ):
                raise NotFound(gettext_noop("This reward is not available."), code="unknown_reward")
            if reward.per_member_limit is not None:
                taken = (
                    Voucher.objects.filter(member=member, reward=reward)
                    .exclude(status=Voucher.Status.CANCELLED)
                    .count()
                )
                if taken >= reward.per_member_limit:
                    raise DomainError(
                        gettext_noop("You already have this reward."), code="limit_reached"
                    )
            took = Reward.objects.filter(
                Q(stock__isnull=True) | Q(issued_count__lt=F("stock")), pk=reward.pk
            ).update(issued_count=F("issued_count") + 1)
            if took != 1:
                raise Conflict(gettext_noop("This reward is out of stock."), code="out_of_stock")
            voucher = _issue_voucher(
                member=member,
                reward=reward,
                title=reward.name,
                kind=reward.kind,
                value=reward.value,
                cost=reward.cost_carats,
                source="redemption",
                valid_days=reward.voucher_valid_days,
                request_key=request_key,
            )
            ledger_post(
                member=member,
                carats=-reward.cost_carats,
                kind=LedgerEntry.Kind.REDEMPTION,
                reason=f"Reward: {reward.name} (voucher {voucher.code})",
                key=f"redeem:{voucher.pk}",
                actor=actor,
            )
    except IntegrityError:
        if request_key:
            existing = Voucher.objects.filter(request_key=request_key).first()
            if existing is not None:
                if existing.member_id != member.pk or existing.reward_id != reward.pk:
                    raise Conflict("This request key was used for another redemption.") from None
                return Redemption(existing, False)
        raise
    return Redemption(voucher, True)


def voucher_issue_gift(*, member: Member, reward: Reward, source: str) -> Voucher:
    """A voucher given, not bought (birthday, giveaway): no carats move."""
    if member.erased_at:
        raise UnknownMember()
    return _issue_voucher(
        member=member,
        reward=reward,
        title=reward.name,
        kind=reward.kind,
        value=reward.value,
        cost=0,
        source=source,
        valid_days=reward.voucher_valid_days,
    )


def voucher_by_code(code: str) -> Voucher:
    code = (code or "").strip().upper()
    voucher = Voucher.objects.select_related("member").filter(code=code).first()
    if voucher is None:
        raise NotFound("No voucher has this code.", code="unknown_voucher")
    return voucher


def voucher_use(*, code: str, where: str = "", actor: User | None = None) -> Voucher:
    """Accept a voucher at a till or in the web shop: once, while valid."""
    voucher = voucher_by_code(code)
    now = timezone.now()
    if voucher.member.erased_at:
        # The account is closed: its vouchers are worth nothing any more.
        raise NotFound("No voucher has this code.", code="unknown_voucher")
    used = Voucher.objects.filter(
        pk=voucher.pk, status=Voucher.Status.ISSUED, valid_until__gt=now
    ).update(status=Voucher.Status.USED, used_at=now, used_where=where[:64], used_by=actor)
    voucher.refresh_from_db()
    if used != 1:
        if voucher.status == Voucher.Status.USED:
            raise Conflict(
                f"This voucher was already used on {voucher.used_at:%Y-%m-%d}.", code="voucher_used"
            )
        if voucher.status == Voucher.Status.CANCELLED:
            raise Conflict("This voucher was cancelled.", code="voucher_cancelled")
        raise Conflict("This voucher has expired.", code="voucher_expired")
    emit(
        "voucher.redeemed",
        member_id=voucher.member_id,
        data={**voucher_event(voucher), "where": voucher.used_where},
    )
    return voucher


def voucher_cancel(*, voucher: Voucher, actor: User | None = None) -> Voucher:
    """Cancel an unused voucher: its carats come back and its unit returns to stock."""
    with transaction.atomic():
        changed = Voucher.objects.filter(pk=voucher.pk, status=Voucher.Status.ISSUED).update(
            status=Voucher.Status.CANCELLED, cancelled_at=timezone.now()
        )
        voucher.refresh_from_db()
        if changed != 1:
            raise Conflict(
                "Only an unused voucher can be cancelled.", code="voucher_not_cancellable"
            )
        if voucher.reward_id:
            Reward.objects.filter(pk=voucher.reward_id, issued_count__gt=0).update(
                issued_count=F("issued_count") - 1
            )
        if voucher.cost_carats:
            ledger_post(
                member=voucher.member,
                carats=voucher.cost_carats,
                kind=LedgerEntry.Kind.REDEMPTION,
                reason=f"Refund of cancelled voucher {voucher.code}",
                key=f"refund:{voucher.pk}",
                actor=actor,
            )
    return voucher


def clubs_for_member(member: Member) -> list[Club]:
    tier = member_tier(member)
    return [
        c
        for c in Club.objects.filter(active=True).prefetch_related("tiers")
        if visible_to_tier(c, tier)
    ]


def club_join(*, member: Member, club: Club, actor: User | None = None) -> ClubMembership:
    """Buy (or renew) a club membership with carats. A renewal extends from the current
    end, so no paid day is lost."""
    now = timezone.now()
    with transaction.atomic():
        member_lock(member.pk)  # an erased member: UnknownMember
        club = Club.objects.prefetch_related("tiers").get(pk=club.pk)
        if not club.active or not visible_to_tier(club, member_tier(member)):
            raise NotFound(gettext_noop("This club is not open to you."), code="unknown_club")
        current = ClubMembership.objects.filter(member=member, club=club, ends_at__gt=now).first()
        start = current.ends_at if current else now
        membership = ClubMembership.objects.create(
            member=member,
            club=club,
            started_at=start,
            ends_at=start + timedelta(days=club.duration_days),
            carats_paid=club.cost_carats,
        )
        ledger_post(
            member=member,
            carats=-club.cost_carats,
            kind=LedgerEntry.Kind.REDEMPTION,
            reason=f"Club: {club.name} until {membership.ends_at:%Y-%m-%d}",
            key=f"club:{membership.pk}",
            actor=actor,
        )
        emit(
            "club.joined",
            member_id=member.pk,
            data={
                "member": member.member_number,
                "club": club.name,
                "started_at": membership.started_at.isoformat(),
                "ends_at": membership.ends_at.isoformat(),
                "carats_paid": club.cost_carats,
            },
        )
    return membership


def _require_ambassador(member: Member) -> None:
    if member.erased_at:
        raise UnknownMember()
    if not member_tier(member).invite_only:
        raise DomainError("Only members of an invite-only tier host giveaways or rent pieces.")


def giveaway_record(
    *,
    member: Member,
    title: str,
    hosted_on,
    free_piece: str,
    actor: User,
    channel: str = "",
    notes: str = "",
):
    """Record a giveaway an ambassador hosted, and the free piece it earns them."""
    from campaigns.models import Giveaway

    _require_ambassador(member)
    return Giveaway.objects.create(
        member=member,
        title=title,
        hosted_on=hosted_on,
        free_piece=free_piece,
        channel=channel,
        notes=notes,
        recorded_by=actor,
    )


def rental_book(*, member: Member, piece: str, event: str, starts_on, ends_on, sku: str = ""):
    """Book a piece for an ambassador's brand event; one piece cannot be out twice at once."""
    from campaigns.models import Rental

    _require_ambassador(member)
    if ends_on < starts_on:
        raise DomainError("The rental must end after it starts.", field="ends_on")
    if (
        sku
        and Rental.objects.filter(
            sku=sku,
            status__in=[Rental.Status.BOOKED, Rental.Status.OUT],
            starts_on__lte=ends_on,
            ends_on__gte=starts_on,
        ).exists()
    ):
        raise Conflict("This piece is already booked for those dates.", code="piece_booked")
    return Rental.objects.create(
        member=member, piece=piece, sku=sku, event=event, starts_on=starts_on, ends_on=ends_on
    )
