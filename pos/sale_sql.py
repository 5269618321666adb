"""The two round trips of the earn path, in SQL on PostgreSQL.

A till waits on every sale, and a profile of the ORM version showed that building the
queries cost more than running them: about 24 statements and 13 ms of Python per sale.
These two round trips replace the common part: `sale_facts` locks the member and reads
everything the program decides on, `sale_write` moves the member's purchase facts and
balance and inserts the purchase and its ledger line. Everything else in a sale stays in
the services and the ORM. The tables are the members, tiers, campaigns and pos apps' own
(pos sits on top of them, see the README's architecture).

This module is the one place that knows those tables for the sale: the other apps return
their decisions as data (a tiers.services.TierUpgrade, an unsaved MessageLog or
ChallengeEnrolment) and the statement builders here (`tier_upgrade_statement`,
`upgrade_mail_statement`, `enrolment_statement`) turn them into the statements the sale
sends with its write. No SQL leaves this module for another app, nor comes in from one.

Other databases (SQLite in `make run`) take the same steps through the ORM (`_orm_*`);
the tests run the sales tests through both."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least

from campaigns.models import ChallengeEnrolment, MessageLog
from loyalty.kernel import hot_sql
from loyalty.kernel.errors import NotFound
from members.models import LedgerEntry, Member
from members.selectors import MEMBER_COLUMNS, member_from_row
from tiers.models import MemberTier, Tier
from tiers.qualifying import qualifying_entries, qualifying_sql
from tiers.services import tier_upgrade_decided

from .models import Purchase


@dataclass(frozen=True)
class SaleFacts:
    purchase_count: int
    tier_id: int | None
    # The 12-month qualifying carats, or None when carats cannot move the tier up (an
    # invite-only tier, or already the highest public one): the sum is then not read.
    qualifying: int | None
    store_sales_that_day: int
    active_enrolments: int
    member: Member | None = None  # the locked row, when the sale found it by a code


# Two statements in one round trip (a pipeline, with the transaction's BEGIN): the lock
# first, then the read, whose snapshot is taken after the lock is granted. Read in the
# locking statement itself, the sums would miss a sale of this member that committed
# while this one waited for the lock. The member is found by id, or by the code the till
# scanned (a unique column): then the lock returns the whole row, and the sale needs no
# lookup of its own.
# An erased member is closed (members.services.member_erase): the lock finds no row, so
# the sale is refused as an unknown member, without a statement of its own; the erasure
# takes the same row lock, so the two cannot pass each other.
_LOCK_BY_ID = "SELECT id FROM members_member WHERE id = %(member)s AND erased_at IS NULL FOR UPDATE"
# The columns come from the model, the field from MEMBER_KEYS: nothing from a request.
_LOCK_BY_CODE = (
    f"SELECT {MEMBER_COLUMNS} FROM members_member m "  # noqa: S608
    "WHERE m.{field} = %(member)s AND m.erased_at IS NULL FOR UPDATE"
)
_QUALIFYING = qualifying_sql(member="m.id", since="%(since)s", indent="           ")
_FACTS = """
SELECT m.purchase_count,
       mt.tier_id,
       CASE WHEN t.id IS NULL OR (NOT t.invite_only AND t.rank < %(top_rank)s) THEN
         {qualifying}
       END,
       CASE WHEN %(day_start)s::timestamptz IS NULL THEN 0 ELSE
         (SELECT count(*) FROM pos_purchase p
           WHERE p.member_id = m.id AND p.channel = 'store'
             AND p.occurred_at >= %(day_start)s AND p.occurred_at < %(day_end)s)
       END,
       CASE WHEN %(challenges)s THEN
         (SELECT count(*) FROM campaigns_challengeenrolment e
           WHERE e.member_id = m.id AND e.status = 'active')
       ELSE 0 END
  FROM members_member m
  LEFT JOIN tiers_membertier mt ON mt.member_id = m.id
  LEFT JOIN tiers_tier t ON t.id = mt.tier_id
 WHERE m.{field} = %(member)s
"""
# The columns a member is found by: its id, or what member_code_filter makes of a code.
MEMBER_KEYS = ("id", "qr_token", "member_number")
_STATEMENTS = {
    field: (
        _LOCK_BY_ID if field == "id" else _LOCK_BY_CODE.format(field=field),
        _FACTS.format(field=field, qualifying=_QUALIFYING),
    )
    for field in MEMBER_KEYS
}


def sale_facts(
    *,
    member_by: tuple[str, object],
    qualifying_since: datetime,
    top_rank: int,
    velocity_day: datetime | None,
    challenges: bool,
) -> SaleFacts:
    """Lock the member's row (their sales, returns and redemptions queue here) and read
    the purchase count, the tier, the qualifying carats, the store sales of the sale's
    local day (for the velocity check, when `velocity_day` is given: its local midnight)
    and the number of active challenge enrolments (when challenges are running).
    `member_by` is ("id", pk) or a (column, value) of member_code_filter; found by a
    code, the facts carry the locked Member. Unknown: NotFound."""
    field, value = member_by
    if field not in MEMBER_KEYS:
        raise ValueError(f"members are not found by {field}")
    day_end = None
    if velocity_day is not None:
        # Aware arithmetic on the store's zone: the next local midnight, also across DST.
        day_end = velocity_day + timedelta(days=1)
    if not hot_sql.available():
        return _orm_facts(
            field, value, qualifying_since, top_rank, velocity_day, day_end, challenges
        )
    params = {
        "member": value,
        "top_rank": top_rank,
        "since": qualifying_since,
        "day_start": velocity_day,
        "day_end": day_end,
        "challenges": challenges,
    }
    lock, facts = _STATEMENTS[field]
    locked, row = hot_sql.fetch_pipeline([(lock, {"member": value}), (facts, params)])
    if locked is None or row is None:
        raise NotFound("No member has this code.", code="unknown_member")
    return SaleFacts(
        purchase_count=row[0],
        tier_id=row[1],
        qualifying=None if row[2] is None else int(row[2]),
        store_sales_that_day=row[3],
        active_enrolments=row[4],
        member=None if field == "id" else member_from_row(locked),
    )


_WRITE = """
WITH m AS (
  UPDATE members_member
     SET purchase_count = purchase_count + 1,
         lifetime_spend_eur = lifetime_spend_eur + %(amount_eur)s,
         first_purchase_at = LEAST(COALESCE(first_purchase_at, %(occurred_at)s), %(occurred_at)s),
         last_purchase_at = GREATEST(COALESCE(last_purchase_at, %(occurred_at)s), %(occurred_at)s),
         balance = balance + %(carats)s,
         last_activity_at = CASE WHEN %(carats)s <> 0 THEN %(now)s ELSE last_activity_at END
   WHERE id = %(member)s
  RETURNING balance
), p AS (
  INSERT INTO pos_purchase (
    member_id, channel, store_id, receipt_id, receipt_key, fingerprint, amount, currency,
    rate_to_eur, amount_eur, occurred_at, carats_awarded, carats_status, earning_reason,
    balance_after, tier_after, tier_changed, recorded_by_id, client, created_at)
  SELECT %(member)s, %(channel)s, %(store_id)s, %(receipt_id)s, %(receipt_key)s,
         %(fingerprint)s, %(amount)s, %(currency)s, %(rate_to_eur)s, %(amount_eur)s,
         %(occurred_at)s, %(carats_awarded)s, %(carats_status)s, %(earning_reason)s,
         m.balance, %(tier_after)s, %(tier_changed)s, %(recorded_by_id)s, %(client)s,
         %(created_at)s
    FROM m
  RETURNING id
), l AS (
  INSERT INTO members_ledgerentry (
    member_id, carats, kind, reason, key, actor_id, balance_after, occurred_at, created_at)
  SELECT %(member)s, %(carats)s, 'purchase', %(reason)s, 'purchase:' || p.id, %(actor_id)s,
         m.balance, %(occurred_at)s, %(now)s
    FROM p, m
   WHERE %(carats)s <> 0
)
SELECT p.id, m.balance FROM p, m
"""


@dataclass(frozen=True)
class SaleWritten:
    purchase_id: int
    balance: int
    then: tuple = ()  # the first row (or None) of each statement sent `then`


def sale_write(
    *,
    member_id: int,
    purchase: dict,
    ledger_carats: int,
    ledger_reason: str,
    actor_id: int | None,
    now: datetime,
    then: Sequence[tuple[str, dict | Sequence]] = (),
) -> SaleWritten:
    """One statement: the member's purchase facts and balance (+ `ledger_carats`), the
    purchase row (with the balance after) and, if `ledger_carats` is not 0, its ledger
    line keyed `purchase:<id>`. A receipt key that exists already raises IntegrityError
    (the caller's transaction is then rolled back as a whole).

    `then`: statements decided before the write (PostgreSQL only: a tier upgrade and its
    mail) that go in the same round trip, after it."""
    params = {
        **purchase,
        "member": member_id,
        "carats": ledger_carats,
        "reason": ledger_reason[:255],
        "actor_id": actor_id,
        "now": now,
    }
    if not hot_sql.available():
        if then:
            raise ValueError("statements to send with the write need PostgreSQL")
        return _orm_write(params)
    if not then:
        purchase_id, balance = hot_sql.fetch(_WRITE, params)
        return SaleWritten(purchase_id=purchase_id, balance=balance)
    (purchase_id, balance), *rows = hot_sql.fetch_pipeline([(_WRITE, params), *then])
    return SaleWritten(purchase_id=purchase_id, balance=balance, then=tuple(rows))


# The sale's upgrade in one statement: the status moves only if it is still `current`,
# and the change is recorded in the same statement. It returns a row only if it moved.
_UPGRADE = """
WITH moved AS (
  UPDATE tiers_membertier SET tier_id = %(target)s, reached_at = %(now)s, hold_until = %(hold)s
   WHERE member_id = %(member)s AND tier_id = %(current)s
  RETURNING member_id
)
INSERT INTO tiers_tierchange (member_id, from_tier_id, to_tier_id, reason, note, changed_at)
SELECT member_id, %(current)s, %(target)s, %(reason)s, %(note)s, %(now)s FROM moved
RETURNING id
"""
# Holds after _UPGRADE only if that statement moved the status: a status the nightly job
# moved has its own `reached_at`.
_MOVED_TO = (
    "EXISTS (SELECT 1 FROM tiers_membertier WHERE member_id = %s AND tier_id = %s "
    "AND reached_at = %s)"
)


def tier_upgrade_statement(
    *, member: Member, current: Tier, target: Tier, qualifying: int, now: datetime
) -> tuple[str, dict]:
    """The upgrade the tiers app decides (tiers.services.tier_upgrade_decided) as one
    statement, for the sale's write's round trip; it returns a row if the status moved
    (pass that to tiers.services.tier_upgrade_done). After it, the status has
    `reached_at` = `now` only if it moved."""
    up = tier_upgrade_decided(
        member=member, current=current, target=target, qualifying=qualifying, now=now
    )
    params = {
        "member": up.member_id,
        "current": up.current_id,
        "target": up.target_id,
        "now": up.reached_at,
        "hold": up.hold_until,
        "reason": up.reason,
        "note": up.note,
    }
    return _UPGRADE, params


def upgrade_mail_statement(
    mail: MessageLog, *, member: Member, target: Tier, now: datetime
) -> tuple[str, list]:
    """The INSERT of `mail` (unless its occasion is claimed already), sent in the write's
    round trip after tier_upgrade_statement, and written only if that statement moved the
    member's status."""
    when_params = (member.pk, target.pk, now)
    return hot_sql.insert_statement(
        mail, unless_exists=True, when=_MOVED_TO, when_params=when_params
    )


def enrolment_statement(enrolment: ChallengeEnrolment) -> tuple[str, list]:
    """The INSERT of a first purchase's challenge enrolment (campaigns decides it:
    challenge_on_purchase's `enrol_later`), unless the member is enrolled already."""
    return hot_sql.insert_statement(enrolment, unless_exists=True)


def _orm_facts(field, value, since, top_rank, day_start, day_end, challenges) -> SaleFacts:
    locked = Member.objects.select_for_update().filter(**{field: value}, erased_at__isnull=True)
    member = None
    if field == "id":
        count = locked.values_list("purchase_count", flat=True).first()
        member_id = value
    else:
        member = locked.first()
        count = member.purchase_count if member else None
        member_id = member.pk if member else None
    if count is None:
        raise NotFound("No member has this code.", code="unknown_member")
    status = MemberTier.objects.select_related("tier").filter(member_id=member_id).first()
    qualifying = None
    if status is None or (not status.tier.invite_only and status.tier.rank < top_rank):
        qualifying = (
            qualifying_entries(since, member_id=member_id).aggregate(s=Sum("carats"))["s"] or 0
        )
    sales = 0
    if day_start is not None:
        sales = Purchase.objects.filter(
            member_id=member_id,
            channel="store",
            occurred_at__gte=day_start,
            occurred_at__lt=day_end,
        ).count()
    enrolments = 0
    if challenges:
        enrolments = ChallengeEnrolment.objects.filter(
            member_id=member_id, status=ChallengeEnrolment.Status.ACTIVE
        ).count()
    return SaleFacts(
        purchase_count=count,
        tier_id=status.tier_id if status else None,
        qualifying=qualifying,
        store_sales_that_day=sales,
        active_enrolments=enrolments,
        member=member,
    )


def _orm_write(params: dict) -> SaleWritten:
    at, carats, now = params["occurred_at"], params["carats"], params["now"]
    member_id = params["member"]
    changes = {
        "purchase_count": F("purchase_count") + 1,
        "lifetime_spend_eur": F("lifetime_spend_eur") + params["amount_eur"],
        "first_purchase_at": Least(Coalesce(F("first_purchase_at"), Value(at)), Value(at)),
        "last_purchase_at": Greatest(Coalesce(F("last_purchase_at"), Value(at)), Value(at)),
        "balance": F("balance") + carats,
    }
    if carats:
        changes["last_activity_at"] = now
    Member.objects.filter(pk=member_id).update(**changes)
    balance = Member.objects.values_list("balance", flat=True).get(pk=member_id)
    fields = {f.attname for f in Purchase._meta.concrete_fields}
    purchase = Purchase.objects.create(
        member_id=member_id,
        balance_after=balance,
        **{k: v for k, v in params.items() if k in fields and k not in ("id", "member_id")},
    )
    if carats:
        LedgerEntry.objects.create(
            member_id=member_id,
            carats=carats,
            kind=LedgerEntry.Kind.PURCHASE,
            reason=params["reason"],
            key=f"purchase:{purchase.pk}",
            actor_id=params["actor_id"],
            balance_after=balance,
            occurred_at=at,
            created_at=now,
        )
    return SaleWritten(purchase_id=purchase.pk, balance=balance)
