"""Sales from every channel: the core path of the product.

purchase_record: record the Purchase (idempotent on channel+store+receipt), convert to EUR
at the rate valid when the sale happened, write the purchase facts on the member, let the
program compute the carats, credit them on the ledger, re-evaluate the tier — one database
transaction, read top to bottom."""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from campaigns.services import (
    carats_for_purchase,
    carats_hold,
    challenge_on_purchase,
    challenge_on_return,
    held_reduce,
    message_schedule,
    next_morning,
    program,
    referral_first_purchase,
)
from loyalty.errors import Conflict, DomainError, NotFound
from loyalty.webhooks import emit
from members.models import LedgerEntry, Member, User
from members.services import ledger_post, member_record_purchase_facts
from tiers.models import Tier
from tiers.selectors import member_tier
from tiers.services import tier_reevaluate

from .models import ApiKey, Channel, Purchase, PurchaseLine, Return, Store
from .selectors import rate_to_eur

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")


def parse_amount(value, *, field: str = "amount") -> Decimal:
    """A positive money amount with at most 2 decimals, from a string or Decimal (never a
    float: 0.1 + 0.2 must not sneak in)."""
    if isinstance(value, float):
        raise DomainError('Send amounts as decimal strings, e.g. "129.90".', field=field)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(
            f'{field} must be a decimal number, e.g. "129.90".', field=field
        ) from None
    if not amount.is_finite():
        raise DomainError(f"{field} must be a finite number.", field=field)
    if amount <= 0:
        raise DomainError(f"{field} must be greater than zero.", field=field)
    if amount > MAX_AMOUNT:  # before quantize: a huge exponent cannot be quantized
        raise DomainError(f"{field} is too large.", field=field)
    try:
        cents = amount.quantize(CENT)
    except InvalidOperation:
        raise DomainError(f'{field} must be a plain amount, e.g. "129.90".', field=field) from None
    if amount != cents:
        raise DomainError(f"{field} has at most 2 decimals.", field=field)
    return cents


def to_eur(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def receipt_key(channel: str, store: Store | None, receipt_id: str) -> str:
    return f"{channel}:{store.code if store else '-'}:{receipt_id}"


def _fingerprint(**data) -> str:
    raw = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class SaleResult:
    purchase: Purchase
    created: bool
    tier: Tier
    previous_tier: Tier | None

    @property
    def carats_awarded(self) -> int:
        return self.purchase.carats_awarded

    @property
    def balance(self) -> int:
        return self.purchase.balance_after

    @property
    def tier_changed(self) -> bool:
        return self.purchase.tier_changed


def _validate_sale_place(channel: str, store: Store | None) -> None:
    if channel not in Channel.values:
        raise DomainError(f"Unknown channel: {channel}.", field="channel")
    if channel == Channel.STORE and store is None:
        raise DomainError("A store sale needs a store.", field="store")
    if store is not None and not store.active:
        raise DomainError("This store is closed.", field="store")


def _clean_lines(lines) -> list[dict]:
    clean = []
    for i, line in enumerate(lines or []):
        if not isinstance(line, dict) or not str(line.get("sku", "")).strip():
            raise DomainError(f"Line {i + 1} needs a sku.", field="lines")
        quantity = line.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise DomainError(f"Line {i + 1}: quantity must be a whole number >= 1.", field="lines")
        clean.append(
            {
                "sku": str(line["sku"]).strip()[:64],
                "category": str(line.get("category") or "").strip()[:64],
                "quantity": quantity,
                "amount": parse_amount(line.get("amount"), field=f"lines[{i}].amount"),
                "service_guarantee": bool(line.get("service_guarantee", False)),
            }
        )
    return clean


def purchase_record(
    *,
    member: Member,
    channel: str,
    store: Store | None,
    receipt_id: str,
    amount,
    currency: str,
    occurred_at: datetime | None = None,
    lines: list[dict] | None = None,
    actor: User | None = None,
    client: str = "",
    now: datetime | None = None,
) -> SaleResult:
    """Record a sale and award its carats, exactly once per receipt.

    A replay with the same data returns the first result and changes nothing; a replay
    with different data is a Conflict."""
    now = now or timezone.now()
    _validate_sale_place(channel, store)
    receipt_id = (receipt_id or "").strip()
    if not receipt_id or len(receipt_id) > 64:
        raise DomainError("A receipt id (1-64 characters) is required.", field="receipt_id")
    amount = parse_amount(amount)
    currency = (currency or "").strip().upper()
    lines = _clean_lines(lines)
    if occurred_at is not None:
        if timezone.is_naive(occurred_at):
            raise DomainError("occurred_at needs a time zone offset.", field="occurred_at")
        tolerance = timedelta(minutes=settings.CARAT_FUTURE_TOLERANCE_MINUTES)
        if occurred_at > now + tolerance:
            raise DomainError("occurred_at is in the future.", field="occurred_at")
    key = receipt_key(channel, store, receipt_id)
    fingerprint = _fingerprint(
        member=member.pk,
        amount=str(amount),
        currency=currency,
        occurred_at=occurred_at.isoformat() if occurred_at else None,
        lines=lines,
    )

    existing = Purchase.objects.filter(receipt_key=key).first()
    if existing is not None:
        return _replay(existing, fingerprint)

    when = occurred_at or now
    rate = rate_to_eur(currency, when)
    amount_eur = to_eur(amount, rate)
    try:
        with transaction.atomic():
            # Inserted first: a concurrent replay of this receipt waits here on the unique
            # index until we commit, then takes the replay path below.
            purchase = Purchase.objects.create(
                member=member,
                channel=channel,
                store=store,
                receipt_id=receipt_id,
                receipt_key=key,
                fingerprint=fingerprint,
                amount=amount,
                currency=currency,
                rate_to_eur=rate,
                amount_eur=amount_eur,
                occurred_at=when,
                recorded_by=actor,
                client=client[:80],
                created_at=now,
            )
            PurchaseLine.objects.bulk_create(PurchaseLine(purchase=purchase, **ln) for ln in lines)
            member_record_purchase_facts(
                member=member, occurred_at=when, amount_eur=amount_eur, count=1
            )
            previous = member_tier(member)
            first_purchase = (
                not Purchase.objects.filter(member=member).exclude(pk=purchase.pk).exists()
            )
            earning = carats_for_purchase(
                member=member,
                tier=previous,
                amount_eur=amount_eur,
                occurred_at=when,
                store_code=store.code if store else None,
                channel=channel,
                lines=lines,
                reference=key,
            )
            challenge = challenge_on_purchase(
                member=member,
                purchase_key=key,
                amount_eur=amount_eur,
                channel=channel,
                categories={ln["category"].lower() for ln in lines if ln["category"]},
                occurred_at=when,
                first_purchase=first_purchase,
                base_carats=earning.base,
            )
            carats = earning.carats + challenge.extra_carats
            explanation = "; ".join(earning.explanation + challenge.explanation)
            balance = Member.objects.values_list("balance", flat=True).get(pk=member.pk)
            status = _carats_status(member=member, channel=channel, store=store, when=when)
            ledger_key = f"purchase:{purchase.pk}"
            reason = _sale_reason(purchase, explanation)
            if carats > 0 and status == "credited":
                posting = ledger_post(
                    member=member,
                    carats=carats,
                    kind=LedgerEntry.Kind.PURCHASE,
                    reason=reason,
                    key=ledger_key,
                    actor=actor,
                    occurred_at=when,
                )
                balance = posting.entry.balance_after
            elif carats > 0:
                pending = program().pending_days
                carats_hold(
                    member=member,
                    carats=carats,
                    reason=reason,
                    key=ledger_key,
                    occurred_at=when,
                    status=status,
                    release_at=now + timedelta(days=pending) if status == "pending" else None,
                )
            if first_purchase:
                referral_first_purchase(member=member)
            if any(ln["service_guarantee"] for ln in lines):
                message_schedule(
                    member=member,
                    trigger="service_guarantee",
                    occasion=f"guarantee:{purchase.pk}",
                    due_at=next_morning(member, after=when),
                )
            tier = tier_reevaluate(member=member, now=now)
            if tier.changed:
                message_schedule(
                    member=member,
                    trigger="tier_upgraded",
                    occasion=f"tier:{tier.tier.code}:{now.date().isoformat()}",
                    due_at=now,
                )
            purchase.carats_awarded = carats
            purchase.carats_status = status
            purchase.earning_reason = explanation[:255]
            purchase.balance_after = balance
            purchase.tier_after = tier.tier.code
            purchase.tier_changed = tier.changed
            purchase.save(
                update_fields=[
                    "carats_awarded",
                    "carats_status",
                    "earning_reason",
                    "balance_after",
                    "tier_after",
                    "tier_changed",
                ]
            )
            emit("purchase.recorded", member_id=member.pk, data=_sale_event(purchase, member))
    except IntegrityError:
        existing = Purchase.objects.filter(receipt_key=key).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    return SaleResult(purchase=purchase, created=True, tier=tier.tier, previous_tier=previous)


def _sale_event(purchase: Purchase, member: Member) -> dict:
    return {
        "member": member.member_number,
        "receipt_id": purchase.receipt_id,
        "channel": purchase.channel,
        "store": purchase.store.code if purchase.store else None,
        "amount": str(purchase.amount),
        "currency": purchase.currency,
        "amount_eur": str(purchase.amount_eur),
        "occurred_at": purchase.occurred_at.isoformat(),
        "carats_awarded": purchase.carats_awarded,
        "carats_status": purchase.carats_status,
        "tier": purchase.tier_after,
    }


def _carats_status(*, member: Member, channel: str, store: Store | None, when: datetime) -> str:
    """credited, pending (return window) or held (velocity check: too many store sales for
    one member in one day of the store's calendar)."""
    prog = program()
    if channel == Channel.STORE and prog.max_store_sales_per_day:
        local = when.astimezone(ZoneInfo(store.time_zone))
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        sales = Purchase.objects.filter(
            member=member,
            channel=Channel.STORE,
            occurred_at__gte=day,
            occurred_at__lt=day + timedelta(days=1),
        ).count()
        if sales > prog.max_store_sales_per_day:
            return "held"
    return "pending" if prog.pending_days else "credited"


def _sale_reason(purchase: Purchase, explanation: str) -> str:
    where = purchase.store.name if purchase.store else purchase.get_channel_display()
    return f"Purchase {purchase.receipt_id} at {where}: {explanation}"


def _replay(existing: Purchase, fingerprint: str) -> SaleResult:
    if existing.fingerprint != fingerprint:
        raise Conflict(
            "This receipt was already recorded with different data.", code="receipt_conflict"
        )
    tier = Tier.objects.filter(code=existing.tier_after).first() or member_tier(existing.member)
    return SaleResult(purchase=existing, created=False, tier=tier, previous_tier=None)


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
    recorded as unrecovered)."""
    now = now or timezone.now()
    _validate_sale_place(channel, store)
    return_id = (return_id or "").strip()
    if not return_id or len(return_id) > 64:
        raise DomainError("A return id (1-64 characters) is required.", field="return_id")
    amount = parse_amount(amount)
    key = receipt_key(channel, store, receipt_id)
    rkey = f"{key}:{return_id}"
    with transaction.atomic():
        # Lock the sale: returns against one sale are applied one at a time, so two
        # concurrent partial returns cannot both pass the "not more than bought" check.
        purchase = (
            Purchase.objects.select_for_update()
            .select_related("member")
            .filter(receipt_key=key)
            .first()
        )
        if purchase is not None and member is not None and purchase.member_id != member.pk:
            # The till returns on the scanned member's page: another member's receipt is
            # a mistake, not a return.
            raise DomainError(
                "This receipt belongs to another member's sale.",
                code="other_member",
                field="receipt_id",
            )
        if purchase is None:
            raise NotFound(
                "No sale with this receipt id.", code="unknown_receipt", field="receipt_id"
            )
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
        # Cumulative rounding: the sum of partial reversals equals the reversal of the sum,
        # and a full return takes back exactly what was earned.
        sums = purchase.returns.aggregate(
            r=Sum("carats_reversed"), u=Sum("carats_unrecovered"), c=Sum("carats_cancelled")
        )
        already = (sums["r"] or 0) + (sums["u"] or 0) + (sums["c"] or 0)
        due_total = int(
            (
                Decimal(purchase.carats_awarded) * (returned + amount) / purchase.amount
            ).to_integral_value(rounding=ROUND_FLOOR)
        )
        due = max(min(due_total, purchase.carats_awarded) - already, 0)
        member = Member.objects.select_for_update().get(pk=purchase.member_id)
        # Inside the return window (or while held) the carats are not on the balance yet:
        # cancel them there first.
        cancelled = held_reduce(key=f"purchase:{purchase.pk}", carats=due)
        reversed_carats = min(due - cancelled, member.balance)
        ret = Return.objects.create(
            purchase=purchase,
            return_id=return_id,
            return_key=rkey,
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
        returned_total = returned + amount
        challenge_on_return(
            member=member,
            purchase_key=key,
            amount_eur=ret.amount_eur,
            fully_returned=returned_total >= purchase.amount,
            now=now,
        )
        emit(
            "return.recorded",
            member_id=member.pk,
            data={
                "member": member.member_number,
                "receipt_id": purchase.receipt_id,
                "return_id": ret.return_id,
                "amount": str(ret.amount),
                "currency": purchase.currency,
                "carats_reversed": ret.carats_reversed,
                "carats_cancelled": ret.carats_cancelled,
                "balance": ret.balance_after,
            },
        )
    return ReturnResult(ret=ret, created=True)


def api_key_create(*, name: str, store: Store | None = None) -> tuple[ApiKey, str]:
    """Create an API key; returns the key object and the plain key, which is shown once."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(24)
    plain = f"crt_{prefix}_{secret}"
    key = ApiKey.objects.create(
        name=name, prefix=prefix, key_hash=hashlib.sha256(plain.encode()).hexdigest(), store=store
    )
    return key, plain
