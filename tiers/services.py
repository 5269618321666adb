"""Tier qualification: upgrade at once after a sale, downgrade only in the nightly job and
only after the 12-month hold, invite-only tiers by marketing's hand."""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from loyalty.errors import Conflict, DomainError, NotFound
from loyalty.outbox import enqueue
from loyalty.webhooks import emit
from members.models import LedgerEntry, Member, User
from members.selectors import qualifying_carats

from .models import Invitation, MemberTier, Tier, TierChange
from .selectors import entry_tier, qualification_window_start, target_tier_for


def hold_end(start: datetime) -> datetime:
    """12 calendar months after `start` (29 February falls back to the 28th)."""
    try:
        return start.replace(year=start.year + 1)
    except ValueError:
        return start.replace(year=start.year + 1, day=28)


@dataclass(frozen=True)
class TierResult:
    tier: Tier
    previous: Tier | None
    changed: bool


def _tier_event(member: Member, previous: Tier | None, tier: Tier, reason: str) -> None:
    emit(
        "tier.changed",
        member_id=member.pk,
        data={
            "member": member.member_number,
            "from": previous.code if previous else None,
            "to": tier.code,
            "to_name": tier.name,
            "discount_percent": str(tier.discount_percent),
            "reason": reason,
        },
    )


def tier_assign_initial(*, member: Member, at: datetime | None = None) -> MemberTier:
    """Give a new member the entry tier (idempotent)."""
    at = at or member.joined_at or timezone.now()
    tier = entry_tier()
    status, created = MemberTier.objects.get_or_create(
        member=member, defaults={"tier": tier, "reached_at": at, "hold_until": hold_end(at)}
    )
    if created:
        TierChange.objects.create(
            member=member,
            from_tier=None,
            to_tier=tier,
            reason=TierChange.Reason.JOINED,
            changed_at=at,
        )
    return status


@transaction.atomic
def tier_reevaluate(*, member: Member, now: datetime | None = None) -> TierResult:
    """Upgrade at once if the member's qualifying carats reach a higher public tier.
    Never downgrades (that is the nightly job's, after the hold) and never touches an
    invite-only tier."""
    now = now or timezone.now()
    tier_assign_initial(member=member)
    # Lock the status row: two sales of one member must not both write an upgrade.
    status = MemberTier.objects.select_for_update().select_related("tier").get(member=member)
    current = status.tier
    if current.invite_only:
        return TierResult(tier=current, previous=current, changed=False)
    earned = qualifying_carats(member, since=qualification_window_start(now))
    target = target_tier_for(earned)
    if target is None or target.rank <= current.rank:
        return TierResult(tier=current, previous=current, changed=False)
    status.tier = target
    status.reached_at = now
    status.hold_until = hold_end(now)
    status.save(update_fields=["tier", "reached_at", "hold_until"])
    TierChange.objects.create(
        member=member,
        from_tier=current,
        to_tier=target,
        reason=TierChange.Reason.UPGRADE,
        note=f"{earned} qualifying carats",
        changed_at=now,
    )
    _tier_event(member, current, target, TierChange.Reason.UPGRADE)
    return TierResult(tier=target, previous=current, changed=True)


def tier_upgrade(
    *, member: Member, current: Tier, target: Tier, qualifying: int, now: datetime
) -> TierResult:
    """The sale's upgrade, when the sale has already read the qualifying carats and the
    tier under the member's row lock (pos.services): written only if the status is still
    `current` (the nightly job may have moved it meanwhile; then re-evaluate in full)."""
    moved = MemberTier.objects.filter(member=member, tier=current).update(
        tier=target, reached_at=now, hold_until=hold_end(now)
    )
    if not moved:
        return tier_reevaluate(member=member, now=now)
    TierChange.objects.create(
        member=member,
        from_tier=current,
        to_tier=target,
        reason=TierChange.Reason.UPGRADE,
        note=f"{qualifying} qualifying carats",
        changed_at=now,
    )
    _tier_event(member, current, target, TierChange.Reason.UPGRADE)
    return TierResult(tier=target, previous=current, changed=True)


@transaction.atomic
def tier_invite(*, member: Member, tier: Tier, actor: User, note: str) -> TierResult:
    """Marketing puts a member on an invite-only tier (e.g. Ambassador)."""
    if not tier.invite_only:
        raise DomainError("Only invite-only tiers are assigned by hand.", field="tier")
    if not note.strip():
        raise DomainError("Say why this member is invited.", field="note")
    tier_assign_initial(member=member)
    status = MemberTier.objects.select_for_update().select_related("tier").get(member=member)
    previous = status.tier
    if previous == tier:
        return TierResult(tier=tier, previous=previous, changed=False)
    now = timezone.now()
    status.tier, status.reached_at, status.hold_until = tier, now, hold_end(now)
    status.save(update_fields=["tier", "reached_at", "hold_until"])
    TierChange.objects.create(
        member=member,
        from_tier=previous,
        to_tier=tier,
        reason=TierChange.Reason.INVITED,
        note=note.strip(),
        actor=actor,
        changed_at=now,
    )
    _tier_event(member, previous, tier, TierChange.Reason.INVITED)
    return TierResult(tier=tier, previous=previous, changed=True)


@transaction.atomic
def tier_revoke(*, member: Member, actor: User, note: str) -> TierResult:
    """Marketing takes an invite-only tier away: the member falls back to the public tier
    their qualifying carats earn."""
    if not note.strip():
        raise DomainError("Say why the invitation is revoked.", field="note")
    status = MemberTier.objects.select_for_update().select_related("tier").get(member=member)
    previous = status.tier
    if not previous.invite_only:
        raise DomainError("This member is not on an invite-only tier.", field="tier")
    now = timezone.now()
    earned = qualifying_carats(member, since=qualification_window_start(now))
    target = target_tier_for(earned) or entry_tier()
    status.tier, status.reached_at, status.hold_until = target, now, hold_end(now)
    status.save(update_fields=["tier", "reached_at", "hold_until"])
    TierChange.objects.create(
        member=member,
        from_tier=previous,
        to_tier=target,
        reason=TierChange.Reason.REVOKED,
        note=note.strip(),
        actor=actor,
        changed_at=now,
    )
    _tier_event(member, previous, target, TierChange.Reason.REVOKED)
    return TierResult(tier=target, previous=previous, changed=True)


@dataclass(frozen=True)
class EvaluationReport:
    initialised: int
    upgraded: int
    downgraded: int


def tiers_evaluate_all(*, now: datetime | None = None) -> EvaluationReport:
    """The nightly evaluation of every member, set-based (a handful of SQL statements,
    whatever the number of members). Only members whose tier changes are written.

    Upgrades anyone whose carats reach a higher public tier (normally already done at the
    sale); downgrades those below their tier's threshold whose 12-month hold has passed;
    leaves invite-only tiers alone; gives members without a status the entry tier."""
    now = now or timezone.now()
    since = qualification_window_start(now)
    hold = hold_end(now)
    entry = entry_tier()
    kinds = list(LedgerEntry.QUALIFYING_KINDS)
    kind_params = ", ".join(["%s"] * len(kinds))
    moves = f"tier_moves_{uuid.uuid4().hex[:12]}"
    m, mt, t, le, tc = (
        Member._meta.db_table,
        MemberTier._meta.db_table,
        Tier._meta.db_table,
        LedgerEntry._meta.db_table,
        TierChange._meta.db_table,
    )
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {mt} (member_id, tier_id, reached_at, hold_until)
            SELECT m.id, %s, m.joined_at, m.joined_at FROM {m} m
            WHERE NOT EXISTS (SELECT 1 FROM {mt} s WHERE s.member_id = m.id)
            """,  # noqa: S608 - table names come from model metadata, values are params
            [entry.pk],
        )
        initialised = cur.rowcount
        cur.execute(
            f"""
            CREATE TEMPORARY TABLE {moves} AS
            WITH q AS (
                SELECT member_id, SUM(carats) AS qc FROM {le}
                WHERE kind IN ({kind_params}) AND occurred_at >= %s
                GROUP BY member_id
            ),
            cur AS (
                SELECT s.member_id, s.tier_id AS from_tier, t.rank AS from_rank,
                       s.hold_until, COALESCE(q.qc, 0) AS qc
                FROM {mt} s
                JOIN {t} t ON t.id = s.tier_id
                LEFT JOIN q ON q.member_id = s.member_id
                WHERE t.invite_only = %s
            ),
            bands AS (
                -- Each auto tier owns [threshold, next threshold); the lowest one also
                -- everything below (qualifying carats can be negative after returns).
                SELECT id, rank, threshold,
                       LEAD(threshold) OVER (ORDER BY threshold, rank) AS upper,
                       ROW_NUMBER() OVER (ORDER BY threshold, rank) = 1 AS lowest
                FROM {t} WHERE invite_only = %s
            )
            SELECT cur.member_id, cur.from_tier, b.id AS to_tier, cur.qc,
                   CASE WHEN b.rank > cur.from_rank THEN 'upgrade' ELSE 'downgrade' END
                   AS direction
            FROM cur JOIN bands b
              ON (cur.qc >= b.threshold OR b.lowest) AND (b.upper IS NULL OR cur.qc < b.upper)
            WHERE b.rank > cur.from_rank
               OR (b.rank < cur.from_rank AND cur.hold_until <= %s)
            """,  # noqa: S608
            [*kinds, since, False, False, now],
        )
        # Only apply a move if the member is still on the tier it was computed from: a sale
        # that upgraded the member meanwhile wins.
        cur.execute(
            f"""
            UPDATE {mt} SET tier_id = mv.to_tier, reached_at = %s, hold_until = %s
            FROM {moves} mv
            WHERE {mt}.member_id = mv.member_id AND {mt}.tier_id = mv.from_tier
            """,  # noqa: S608
            [now, hold],
        )
        cur.execute(
            f"""
            INSERT INTO {tc} (member_id, from_tier_id, to_tier_id, reason, note, changed_at)
            SELECT mv.member_id, mv.from_tier, mv.to_tier, mv.direction,
                   'nightly evaluation: ' || CAST(mv.qc AS VARCHAR(12)) || ' qualifying carats',
                   %s
            FROM {moves} mv JOIN {mt} s ON s.member_id = mv.member_id
            WHERE s.tier_id = mv.to_tier AND s.reached_at = %s
            """,  # noqa: S608
            [now, now],
        )
        _nightly_events(cur, moves=moves, mt=mt)
        cur.execute(
            f"SELECT direction, COUNT(*) FROM {moves} GROUP BY direction"  # noqa: S608
        )
        counts = dict(cur.fetchall())
        cur.execute(f"DROP TABLE {moves}")
    return EvaluationReport(
        initialised=max(initialised, 0),
        upgraded=counts.get("upgrade", 0),
        downgraded=counts.get("downgrade", 0),
    )


def invitation_send(
    *, member: Member, tier: Tier, actor: User, note: str, valid_days: int = 30
) -> Invitation:
    """Invite a member to an invite-only tier by e-mail (a one-time link)."""
    if not tier.invite_only:
        raise DomainError("Only invite-only tiers are reached by invitation.", field="tier")
    if not note.strip():
        raise DomainError("Say why this member is invited.", field="note")
    now = timezone.now()
    invitation = Invitation.objects.create(
        member=member,
        tier=tier,
        token=secrets.token_urlsafe(32),
        note=note.strip(),
        invited_by=actor,
        expires_at=now + timedelta(days=valid_days),
    )
    enqueue("tiers.send_invitation", invitation.pk)
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, member: Member) -> TierResult:
    """The invited member accepts: the tier is assigned, once; the link then stops working."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("tier", "invited_by")
        .filter(token=token)
        .first()
    )
    if invitation is None or invitation.member_id != member.pk:
        raise NotFound("This invitation does not exist.", code="unknown_invitation")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was already accepted.", code="invitation_used")
    if invitation.expires_at <= timezone.now():
        raise Conflict("This invitation has expired.", code="invitation_expired")
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return tier_invite(
        member=member,
        tier=invitation.tier,
        actor=invitation.invited_by,
        note=f"Accepted invitation: {invitation.note}",
    )


def _nightly_events(cur, *, moves: str, mt: str) -> None:
    """tier.changed for each member the nightly job moved (only if someone listens)."""
    from loyalty.models import WebhookEndpoint

    if not any(e.wants("tier.changed") for e in WebhookEndpoint.objects.filter(active=True)):
        return
    cur.execute(
        f"""SELECT mv.member_id, mv.from_tier, mv.to_tier, mv.direction FROM {moves} mv
            JOIN {mt} s ON s.member_id = mv.member_id AND s.tier_id = mv.to_tier"""  # noqa: S608
    )
    rows = cur.fetchall()
    tiers = {t.pk: t for t in Tier.objects.all()}
    members = Member.objects.in_bulk([r[0] for r in rows])
    for member_id, from_id, to_id, direction in rows:
        _tier_event(members[member_id], tiers.get(from_id), tiers[to_id], direction)
