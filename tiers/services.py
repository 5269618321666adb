"""Tier qualification: upgrade at once after a sale, downgrade only in the nightly job and
only after the 12-month hold, invite-only tiers by marketing's hand."""

import secrets
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from django.db import connection, transaction
from django.utils import timezone

from loyalty.kernel.errors import Conflict, DomainError, NotFound
from loyalty.kernel.outbox import enqueue
from loyalty.kernel.webhooks import emit
from members.models import LedgerEntry, Member, User
from members.wallet.services import wallet_card_changed, wallet_cards_changed

from .models import Invitation, MemberTier, Tier, TierChange
from .qualifying import (
    QUALIFYING_KINDS,
    QUALIFYING_KINDS_PARAMS,
    qualification_window_start,
    qualifying_carats,
    target_tier_bisect,
)
from .selectors import auto_tiers, entry_tier, target_tier_for


def hold_end(start: datetime) -> datetime:
    """12 calendar months after `start` (29 February falls back to the 28th)."""
    try:
        return start.replace(year=start.year + 1)
    except ValueError:
        return start.replace(year=start.year + 1, day=28)


def downgrade_deadline(*, member: Member) -> datetime | None:
    """From when the nightly evaluation moves `member` down if their qualifying carats are
    then below the tier's threshold: the end of the hold (`hold_end` of the day the tier
    was reached; `_tier_moves` downgrades once `hold_until <= now`). A purchase before it
    keeps the tier. None without a status, or on an invite-only tier (carats never move
    it). The tier-at-risk mail quotes this date."""
    status = MemberTier.objects.select_related("tier").filter(member_id=member.pk).first()
    if status is None or status.tier.invite_only:
        return None
    return status.hold_until


@dataclass(frozen=True)
class TierResult:
    tier: Tier
    previous: Tier | None
    changed: bool


def _tier_event(
    member: Member, previous: Tier | None, tier: Tier, reason: str, *, card: bool = True
) -> None:
    if card:  # the wallet card shows the tier (the nightly job marks its cards in bulk)
        wallet_card_changed(member=member)
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


@dataclass(frozen=True)
class TierUpgrade:
    """The program's decision to move a member's status up, as data: the status moves
    from `current_id` to `target_id` only if it is still `current_id`, and the change is
    recorded. tier_upgrade writes it through the ORM; the sale's writer (pos.sale_sql)
    in its own write's round trip."""

    member_id: int
    current_id: int
    target_id: int
    reached_at: datetime
    hold_until: datetime
    reason: str
    note: str


def tier_upgrade_decided(
    *, member: Member, current: Tier, target: Tier, qualifying: int, now: datetime
) -> TierUpgrade:
    """The upgrade from `current` to `target` a sale decided (its status, hold and note)."""
    return TierUpgrade(
        member_id=member.pk,
        current_id=current.pk,
        target_id=target.pk,
        reached_at=now,
        hold_until=hold_end(now),
        reason=TierChange.Reason.UPGRADE.value,
        note=_upgrade_note(qualifying),
    )


def tier_upgrade(
    *, member: Member, current: Tier, target: Tier, qualifying: int, now: datetime
) -> TierResult:
    """The sale's upgrade, when the sale has already read the qualifying carats and the
    tier under the member's row lock (pos.services): written only if the status is still
    `current` (the nightly job may have moved it meanwhile; then re-evaluate in full).
    On PostgreSQL the sale sends the same decision with its write (pos.sale_sql)."""
    up = tier_upgrade_decided(
        member=member, current=current, target=target, qualifying=qualifying, now=now
    )
    moved = MemberTier.objects.filter(member_id=up.member_id, tier_id=up.current_id).update(
        tier_id=up.target_id, reached_at=up.reached_at, hold_until=up.hold_until
    )
    if moved:
        TierChange.objects.create(
            member_id=up.member_id,
            from_tier_id=up.current_id,
            to_tier_id=up.target_id,
            reason=up.reason,
            note=up.note,
            changed_at=up.reached_at,
        )
    return tier_upgrade_done(member=member, current=current, target=target, moved=moved, now=now)


def _upgrade_note(qualifying: int) -> str:
    return f"{qualifying} qualifying carats"


def tier_upgrade_done(
    *, member: Member, current: Tier, target: Tier, moved: bool, now: datetime
) -> TierResult:
    """After the upgrade's statement: its event if the status moved, else (the nightly job
    moved it meanwhile) a full re-evaluation."""
    if not moved:
        return tier_reevaluate(member=member, now=now)
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


@dataclass(frozen=True)
class _Move:
    """One member's tier change found by the nightly job."""

    NOTE: ClassVar[str] = "nightly evaluation: {} qualifying carats"

    member_id: int
    current: Tier
    target: Tier
    qualifying: int

    @property
    def up(self) -> bool:
        return self.target.rank > self.current.rank

    @property
    def reason(self) -> str:
        return TierChange.Reason.UPGRADE if self.up else TierChange.Reason.DOWNGRADE

    @property
    def note(self) -> str:
        return self.NOTE.format(self.qualifying)


def tiers_evaluate_all(*, now: datetime | None = None) -> EvaluationReport:
    """The nightly evaluation of every member, set-based (a handful of SQL statements,
    whatever the number of members). Only members whose tier changes are written.

    Upgrades anyone whose carats reach a higher public tier (normally already done at the
    sale); downgrades those below their tier's threshold whose 12-month hold has passed;
    leaves invite-only tiers alone; gives members without a status the entry tier.

    The work is one read and one write: a plain SELECT (so PostgreSQL runs the 12-month
    aggregate with parallel workers, which CREATE TABLE AS and INSERT/UPDATE ... SELECT
    do not) returns only the members whose tier changes, a few thousand a night; one
    statement then moves their statuses and writes their history rows."""
    now = now or timezone.now()
    tiers = list(auto_tiers())  # read afresh, not from the cache: tonight's program
    if not tiers:
        raise DomainError("The program has no tiers yet; create one in the admin.")
    with transaction.atomic(), connection.cursor() as cur:
        initialised = _statuses_initialise(cur, entry=tiers[0])
        moves = _tier_moves(cur, tiers=tiers, now=now)
        moved = _tier_moves_write(cur, moves, now=now)
        _nightly_events(moved)
    _statuses_vacuum()
    return EvaluationReport(
        initialised=initialised,
        upgraded=sum(m.reason == TierChange.Reason.UPGRADE for m in moved),
        downgraded=sum(m.reason == TierChange.Reason.DOWNGRADE for m in moved),
    )


def _statuses_vacuum() -> None:
    """VACUUM the statuses after the night's moves, so that tomorrow's evaluation reads
    them index-only (membertier_cover). That needs the visibility map set, which every
    status update clears for its page: after a day of upgrades at the tills and a night of
    moves most pages are cleared, and autovacuum comes by only once a fifth of the table
    has changed; the evaluation then reads every status's heap page again (an index scan,
    343 ms at a million members instead of 105-124 ms). The VACUUM itself took 0.1-0.5 s
    there. PostgreSQL only, and not inside a caller's transaction (the history import runs
    the evaluation in its own), where VACUUM cannot run."""
    if not _postgres() or connection.in_atomic_block:
        return
    with connection.cursor() as cur:
        cur.execute(f"VACUUM (ANALYZE) {MemberTier._meta.db_table}")


def _statuses_initialise(cur, *, entry: Tier) -> int:
    """Members without a status get the entry tier, as of the day they joined (no history
    row, as before). Almost every night there is no such member: `member_enroll` writes
    the status with the member, and the history import, which inserts members in SQL,
    runs this job in its own transaction. So two counts come first (a status belongs to
    an existing member, at most one each: equal counts mean nobody is missing), about a
    tenth of the raw aggregate's time at a million members; the anti-join runs only when
    the counts differ."""
    m, mt = Member._meta.db_table, MemberTier._meta.db_table
    cur.execute(f"SELECT (SELECT COUNT(*) FROM {m}) - (SELECT COUNT(*) FROM {mt})")  # noqa: S608
    if cur.fetchone()[0] == 0:
        return 0
    # ON CONFLICT: a member enrolled meanwhile got a status from member_enroll.
    cur.execute(
        f"""
        INSERT INTO {mt} (member_id, tier_id, reached_at, hold_until)
        SELECT m.id, %s, m.joined_at, m.joined_at FROM {m} m
        WHERE NOT EXISTS (SELECT 1 FROM {mt} s WHERE s.member_id = m.id)
        ON CONFLICT (member_id) DO NOTHING
        """,  # noqa: S608 - table names come from model metadata, values are params
        [entry.pk],
    )
    return max(cur.rowcount, 0)


def _tier_moves(cur, *, tiers: list[Tier], now: datetime) -> list[_Move]:
    """The members whose tier changes tonight, with their qualifying carats.

    Qualifying carats are the purchase, return and retroactive ledger carats whose
    `occurred_at` (a return carries its sale's time) lies in the rolling 12 months. The
    target tier is the highest-ranked public tier whose threshold they reach, or the entry
    tier (the lowest rank) below every threshold, as `target_tier_for`. The SQL condition
    is written per public tier from the thresholds, so that only the moves leave the
    database: a member on tier T moves up when the carats reach a threshold of a higher
    tier, and down (once the hold has passed) when they reach no threshold of T or above.
    Members on an invite-only tier match no condition."""
    qc = "COALESCE(q.qc, 0)"
    clauses, params = [], []
    for i, tier in enumerate(tiers):  # lowest rank first
        parts, part_params = [], []
        if i + 1 < len(tiers):
            parts.append(f"{qc} >= %s")
            part_params.append(min(t.threshold for t in tiers[i + 1 :]))
        if i > 0:
            parts.append(f"({qc} < %s AND s.hold_until <= %s)")
            part_params += [min(t.threshold for t in tiers[i:]), now]
        if parts:
            clauses.append(f"(s.tier_id = %s AND ({' OR '.join(parts)}))")
            params += [tier.pk, *part_params]
    if not clauses:
        return []  # a single public tier: nobody can move
    sql = f"""
        SELECT s.member_id, s.tier_id, {qc}
        FROM {MemberTier._meta.db_table} s
        LEFT JOIN (
            SELECT member_id, SUM(carats) AS qc FROM {LedgerEntry._meta.db_table}
            WHERE kind IN ({QUALIFYING_KINDS_PARAMS}) AND occurred_at >= %s
            GROUP BY member_id
        ) q ON q.member_id = s.member_id
        WHERE {" OR ".join(clauses)}
        """  # noqa: S608 - table names come from model metadata, values are params
    # The plan wanted on PostgreSQL is the raw aggregate's own (a parallel index scan of
    # the ledger in member order, partial sums in the workers, merged in member order)
    # feeding a merge join with the statuses' covering index: nothing to hash, the
    # statuses streamed once, 1.1-1.3x the raw aggregate at a million members. Left
    # alone, the planner (which underestimates the members with carats threefold) hashes
    # the aggregate (1.6-1.9x) or runs it without workers (1.5x); hence the settings, for
    # this statement only. JIT compiling took 60-70 ms of it and gained nothing (5 runs
    # each way: 1.11 s without, 1.15 s with). No ORDER BY: it would turn the join around.
    with _pg_settings(cur, enable_hashjoin="off", parallel_tuple_cost="0.01", jit="off"):
        cur.execute(sql, [*QUALIFYING_KINDS, qualification_window_start(now), *params])
        rows = sorted(cur.fetchall())  # member order: the order the writes lock in
    by_id, target = {t.pk: t for t in tiers}, target_tier_bisect(tiers)
    return [
        _Move(member_id, by_id[tier_id], target(qualifying), qualifying)
        for member_id, tier_id, qualifying in rows
    ]


def _postgres() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def _pg_settings(cur, **settings: str):
    """Planner settings for the statements inside the block only (PostgreSQL; elsewhere
    nothing). SET LOCAL would last until the end of the transaction, which may be the
    caller's (the history import runs this job inside its own), so the previous values
    are put back afterwards. If a statement fails, rolling back undoes the settings."""
    if not _postgres():
        yield
        return
    names = list(settings)
    cur.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
    previous = cur.fetchone()
    cur.execute(
        "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
        [x for name in names for x in (name, settings[name])],
    )
    yield
    cur.execute(
        "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
        [x for pair in zip(names, previous, strict=True) for x in pair],
    )


def _pg_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers. The driver adapts a list of 10,000 values
    in about 10 ms (text in 40 ms); this string takes about 1 ms."""
    return "{" + ",".join(map(str, values)) + "}"


def _tier_moves_write(cur, moves: list[_Move], *, now: datetime) -> list[_Move]:
    """Move the statuses and write a history row per move; returns the moves written.

    A move is written only if the member is still on the tier it was computed from: a
    sale that upgraded the member since the read wins (the UPDATE waits for the sale's
    row lock, then re-checks the tier). The moves come in member order.

    Not closed (as before this version): a sale committed between the read and the write
    that adds carats without changing the tier does not stop a downgrade computed from
    the carats before it; the member's next sale, or the next night, moves them back up.
    Re-reading the carats of every move under lock measured about +25% of the raw
    aggregate at a million members, for a window of about a second at night."""
    if not moves:
        return []
    write = _tier_moves_write_postgres if _postgres() else _tier_moves_write_chunked
    moved = write(cur, moves, now=now, hold=hold_end(now))
    return [m for m in moves if m.member_id in moved]


def _tier_moves_write_postgres(
    cur, moves: list[_Move], *, now: datetime, hold: datetime
) -> set[int]:
    """One statement for all the moves, passed as arrays; the members moved."""
    mt, tc = MemberTier._meta.db_table, TierChange._meta.db_table
    cur.execute(
        f"""
        WITH mv (member_id, from_tier, to_tier, qualifying, up) AS (
            SELECT * FROM unnest(
                %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::boolean[]
            )
        ), moved AS (
            UPDATE {mt} s SET tier_id = mv.to_tier, reached_at = %s, hold_until = %s
            FROM mv WHERE s.member_id = mv.member_id AND s.tier_id = mv.from_tier
            RETURNING mv.*
        )
        INSERT INTO {tc} (member_id, from_tier_id, to_tier_id, reason, note, changed_at)
        SELECT member_id, from_tier, to_tier,
               CASE WHEN up THEN %s ELSE %s END,
               %s || qualifying || %s,
               %s
        FROM moved
        RETURNING member_id
        """,  # noqa: S608 - table names come from model metadata, values are params
        [
            _pg_array(m.member_id for m in moves),
            _pg_array(m.current.pk for m in moves),
            _pg_array(m.target.pk for m in moves),
            _pg_array(m.qualifying for m in moves),
            "{" + ",".join("t" if m.up else "f" for m in moves) + "}",
            now,
            hold,
            TierChange.Reason.UPGRADE,
            TierChange.Reason.DOWNGRADE,
            *_Move.NOTE.split("{}"),
            now,
        ],
    )
    return {row[0] for row in cur.fetchall()}


def _tier_moves_write_chunked(
    cur, moves: list[_Move], *, now: datetime, hold: datetime
) -> set[int]:
    """SQLite (make run): the same in chunks, the moves as VALUES rows; the members moved."""
    mt, tc = MemberTier._meta.db_table, TierChange._meta.db_table
    moved: set[int] = set()
    for start in range(0, len(moves), 300):
        chunk = moves[start : start + 300]
        cur.execute(
            f"""
            UPDATE {mt} SET tier_id = mv.column3, reached_at = %s, hold_until = %s
            FROM (VALUES {", ".join(["(%s, %s, %s)"] * len(chunk))}) AS mv
            WHERE {mt}.member_id = mv.column1 AND {mt}.tier_id = mv.column2
            RETURNING member_id
            """,  # noqa: S608
            [now, hold, *(x for m in chunk for x in (m.member_id, m.current.pk, m.target.pk))],
        )
        done = {row[0] for row in cur.fetchall()}
        rows = [m for m in chunk if m.member_id in done]
        if rows:
            cur.execute(
                f"""
                INSERT INTO {tc} (member_id, from_tier_id, to_tier_id, reason, note,
                                  changed_at)
                VALUES {", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))}
                """,  # noqa: S608
                [
                    x
                    for m in rows
                    for x in (m.member_id, m.current.pk, m.target.pk, m.reason, m.note, now)
                ],
            )
        moved |= done
    return moved


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


def _nightly_events(moved: list[_Move]) -> None:
    """tier.changed for each member the nightly job moved (only if someone listens)."""
    from loyalty.kernel.models import WebhookEndpoint

    if not moved:
        return
    wallet_cards_changed(member_ids=[m.member_id for m in moved])
    if not any(e.wants("tier.changed") for e in WebhookEndpoint.objects.filter(active=True)):
        return
    members = Member.objects.in_bulk([m.member_id for m in moved])
    for move in moved:
        _tier_event(members[move.member_id], move.current, move.target, move.reason, card=False)
