"""Returns: carats taken back in proportion, never below a zero balance."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from campaigns.services import (
    awards_on_return,
    challenge_on_return,
    held_reduce,
)
from loyalty.kernel.errors import Conflict, DomainError, NotFound
from loyalty.kernel.webhooks import emit
from members.models import LedgerEntry, Member, User
from members.services import ledger_post, member_record_purchase_facts
from pos.models import Purchase, Return, Store

from .amounts import parse_amount, receipt_key, to_eur
from .sales import _validate_sale_place


@dataclass(frozen=True)
class ReturnResult:
    ret: Return
    created: bool

    @property
    def carats_reversed(self) -> int:
        return self.ret.carats_reversed

    @property
    def balance(self) -> int:
        return self.ret.balance_after


def return_record(
    *,
    channel: str,
    store: Store | None,
    receipt_id: str,
    return_id: str,
    amount,
    actor: User | None = None,
    member: Member | None = None,
    now: datetime | None = None,
) -> ReturnResult:
    """Record a return against its sale and take back carats in proportion.

    Returns never add up to more than the sale; the carats taken back never exceed what
    the sale earned, and never take the balance below zero (what was already spent is
    recorded as unrecovered). The story: validate -> lock the sale -> a replay returns
    the first result -> what is due -> write -> what follows (awards, challenges, event)."""
    now = now or timezone.now()
    _validate_sale_place(channel, store)
    return_id = (return_id or "").strip()
    if not return_id or len(return_id) > 64:
        raise DomainError("A return id (1-64 characters) is required.", field="return_id")
    amount = parse_amount(amount)
    key = receipt_key(channel, store, receipt_id)
    rkey = f"{key}:{return_id}"
    with transaction.atomic():
        purchase = _sale_locked(key, member=member)
        existing = Return.objects.filter(return_key=rkey).first()
        if existing is not None:
            if existing.purchase_id != purchase.pk or existing.amount != amount:
                raise Conflict(
                    "This return id was already recorded with different data.",
                    code="return_conflict",
                )
            return ReturnResult(ret=existing, created=False)
        returned = purchase.returns.aggregate(s=Sum("amount"))["s"] or Decimal("0")
        if returned + amount > purchase.amount:
            left = purchase.amount - returned
            raise DomainError(
                f"The return is larger than what is left on the sale ({left} {purchase.currency}).",
                code="return_too_large",
                field="amount",
            )
        due = _carats_due(purchase, returned=returned, amount=amount)
        member = Member.objects.select_for_update().get(pk=purchase.member_id)
        ret = _return_write(
            purchase,
            member,
            return_id=return_id,
            return_key=rkey,
            amount=amount,
            due=due,
            actor=actor,
            now=now,
        )
        returned_total = returned + amount
        # The bonus rules' awards go back in proportion: budgets and caps count net.
        awards_on_return(purchase_key=key, returned=returned_total, amount=purchase.amount)
        challenge_on_return(
            member=member,
            purchase_key=key,
            amount_eur=ret.amount_eur,
            fully_returned=returned_total >= purchase.amount,
            now=now,
        )
        emit("return.recorded", member_id=member.pk, data=_return_event(ret, purchase, member))
    return ReturnResult(ret=ret, created=True)


def _sale_locked(key: str, *, member: Member | None) -> Purchase:
    """The sale, locked: returns against one sale are applied one at a time, so two
    concurrent partial returns cannot both pass the "not more than bought" check."""
    purchase = (
        Purchase.objects.select_for_update()
        .select_related("member")
        .filter(receipt_key=key)
        .first()
    )
    if purchase is not None and member is not None and purchase.member_id != member.pk:
        # The till returns on the scanned member's page: another member's receipt is a
        # mistake, not a return.
        raise DomainError(
            "This receipt belongs to another member's sale.",
            code="other_member",
            field="receipt_id",
        )
    if purchase is None:
        raise NotFound("No sale with this receipt id.", code="unknown_receipt", field="receipt_id")
    return purchase


def _carats_due(purchase: Purchase, *, returned: Decimal, amount: Decimal) -> int:
    """The carats this return takes back. Cumulative rounding: the sum of partial
    reversals equals the reversal of the sum, and a full return takes back exactly what
    was earned."""
    sums = purchase.returns.aggregate(
        r=Sum("carats_reversed"), u=Sum("carats_unrecovered"), c=Sum("carats_cancelled")
    )
    already = (sums["r"] or 0) + (sums["u"] or 0) + (sums["c"] or 0)
    due_total = int(
        (
            Decimal(purchase.carats_awarded) * (returned + amount) / purchase.amount
        ).to_integral_value(rounding=ROUND_FLOOR)
    )
    return max(min(due_total, purchase.carats_awarded) - already, 0)


def _return_write(
    purchase: Purchase,
    member: Member,
    *,
    return_id: str,
    return_key: str,
    amount: Decimal,
    due: int,
    actor: User | None,
    now: datetime,
) -> Return:
    """The return row, the carats taken back (cancelled first while they are still kept
    aside, then from the balance, never below zero) and the member's purchase facts."""
    cancelled = held_reduce(key=f"purchase:{purchase.pk}", carats=due)
    reversed_carats = min(due - cancelled, member.balance)
    ret = Return.objects.create(
        purchase=purchase,
        return_id=return_id,
        return_key=return_key,
        amount=amount,
        amount_eur=to_eur(amount, purchase.rate_to_eur),
        carats_reversed=reversed_carats,
        carats_cancelled=cancelled,
        carats_unrecovered=due - cancelled - reversed_carats,
        balance_after=member.balance,
        recorded_by=actor,
        occurred_at=now,
        created_at=now,
    )
    if reversed_carats:
        posting = ledger_post(
            member=member,
            carats=-reversed_carats,
            kind=LedgerEntry.Kind.RETURN,
            reason=f"Return {return_id} of purchase {purchase.receipt_id}",
            key=f"return:{ret.pk}",
            actor=actor,
            occurred_at=purchase.occurred_at,
        )
        ret.balance_after = posting.entry.balance_after
        ret.save(update_fields=["balance_after"])
    member_record_purchase_facts(
        member=member, occurred_at=purchase.occurred_at, amount_eur=-ret.amount_eur, count=0
    )
    return ret


def _return_event(ret: Return, purchase: Purchase, member: Member) -> dict:
    return {
        "member": member.member_number,
        "receipt_id": purchase.receipt_id,
        "return_id": ret.return_id,
        "amount": str(ret.amount),
        "currency": purchase.currency,
        "carats_reversed": ret.carats_reversed,
        "carats_cancelled": ret.carats_cancelled,
        "balance": ret.balance_after,
    }
