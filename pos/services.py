"""Sales from every channel: the core path of the product.

purchase_record: record the Purchase (idempotent on channel+store+receipt), convert to EUR
at the rate valid when the sale happened, write the purchase facts on the member, let the
program compute the carats, credit them on the ledger, re-evaluate the tier — one database
transaction, read top to bottom."""

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from campaigns.services import (
    awards_on_return,
    carats_for_purchase,
    carats_hold,
    challenge_on_purchase,
    challenge_on_return,
    challenges_running,
    held_reduce,
    message_row,
    message_schedule,
    next_morning,
    program,
    referral_first_purchase,
)
from loyalty.kernel import hot_sql
from loyalty.kernel.errors import Conflict, DomainError, NotFound
from loyalty.kernel.webhooks import emit
from members.models import LedgerEntry, Member, User
from members.selectors import member_code_filter
from members.services import carats_changed_emit, ledger_post, member_record_purchase_facts
from tiers.models import Tier
from tiers.qualifying import qualification_window_start
from tiers.selectors import (
    entry_tier,
    member_tier,
    tier_by_id,
    top_public_rank,
    upgrade_target,
)
from tiers.services import (
    TierResult,
    tier_reevaluate,
    tier_upgrade,
    tier_upgrade_done,
    tier_upgrade_statement,
)

from .models import ApiKey, Channel, Purchase, PurchaseLine, Return, Store
from .sale_sql import sale_facts, sale_write, upgrade_mail_statement
from .selectors import rate_to_eur

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")
MAX_QUANTITY = 10_000  # of one line
MAX_CARATS = 2**31 - 1  # balances and carats are 32-bit integers in the database


def _check_sale_time(occurred_at: datetime, *, now: datetime, max_age: timedelta | None) -> None:
    """A sale's time is bounded both ways: at most a few minutes ahead (clocks of tills
    drift; CARAT_FUTURE_TOLERANCE_MINUTES) and, when the caller says so, at most `max_age`
    back: a back-dated sale would earn the bonus of a campaign that has ended."""
    tolerance = timedelta(minutes=settings.CARAT_FUTURE_TOLERANCE_MINUTES)
    if occurred_at > now + tolerance:
        raise DomainError(
            f"occurred_at is in the future: at most {settings.CARAT_FUTURE_TOLERANCE_MINUTES} "
            "minutes ahead of the server's clock are accepted (check the till's clock).",
            field="occurred_at",
        )
    if max_age is not None and occurred_at < now - max_age:
        raise DomainError(
            f"occurred_at is too far in the past: this API key records sales of the last "
            f"{max_age.days} days only (older history goes through the import).",
            field="occurred_at",
        )


# What an amount looks like wherever it comes in (API, scan page, returns; the history
# import checks the same in SQL): ASCII digits, a dot and at most 2 decimals. Python's
# Decimal() also reads "1e3", "1_000.00", full-width and Arabic-Indic digits; none of
# them is an amount a till or a person means to send.
AMOUNT_RE = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_amount(value, *, field: str = "amount") -> Decimal:
    """A positive money amount with at most 2 decimals, from a string or Decimal (never a
    float: 0.1 + 0.2 must not sneak in). The one amount check: the API's MoneyField and
    the scan page's forms call it too."""
    if isinstance(value, float):
        raise DomainError('Send amounts as decimal strings, e.g. "129.90".', field=field)
    text = format(value, "f") if isinstance(value, Decimal) and value.is_finite() else None
    text = text if text is not None else str(value).strip()
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise DomainError(
            f'{field} must be a decimal number, e.g. "129.90".', field=field
        ) from None
    if not amount.is_finite():
        raise DomainError(f"{field} must be a finite number.", field=field)
    if amount <= 0:
        raise DomainError(f"{field} must be greater than zero.", field=field)
    if not AMOUNT_RE.fullmatch(text):
        raise DomainError(
            f"{field} must be a decimal number written with the digits 0-9 and a dot, "
            'e.g. "129.90".',
            field=field,
        )
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
        if (
            not isinstance(quantity, int)
            or isinstance(quantity, bool)
            or not 1 <= quantity <= MAX_QUANTITY
        ):
            raise DomainError(
                f"Line {i + 1}: quantity must be a whole number from 1 to {MAX_QUANTITY}.",
                field="lines",
            )
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
    member: Member | None = None,
    member_code: str | None = None,
    channel: str,
    store: Store | None,
    receipt_id: str,
    amount,
    currency: str,
    occurred_at: datetime | None = None,
    max_age: timedelta | None = None,
    lines: list[dict] | None = None,
    actor: User | None = None,
    client: str = "",
    now: datetime | None = None,
) -> SaleResult:
    """Record a sale and award its carats, exactly once per receipt.

    A replay with the same data returns the first result and changes nothing; a replay
    with different data is a Conflict.

    The member is given, or found by `member_code` (what the till scanned) under the
    sale's own row lock. The till waits on this, so the common case is three round trips:
    BEGIN, lock and read the member in one pipeline (`sale_facts`), then the program's
    decisions in Python from cached configuration, one statement that moves the member's
    facts and balance and inserts the purchase and its ledger line (`sale_write`), and
    COMMIT; an upgrade and its mail go in the write's round trip. Unknown code: NotFound,
    nothing written. Everything rarer (bonus rules that match, challenges, held carats,
    referral rewards, webhooks) adds its own statements only when it happens. A replayed
    receipt fails on the purchase's unique key, which rolls the whole transaction back,
    and then takes the replay path."""
    now = now or timezone.now()
    if (member is None) == (member_code is None):
        raise TypeError("purchase_record takes a member or a member_code")
    # A till's code is resolved under the sale's row lock, in its first round trip.
    member_by = ("id", member.pk) if member is not None else member_code_filter(member_code)
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
        _check_sale_time(occurred_at, now=now, max_age=max_age)
    key = receipt_key(channel, store, receipt_id)

    def fingerprint(member_pk: int) -> str:
        return _fingerprint(
            member=member_pk,
            amount=str(amount),
            currency=currency,
            occurred_at=occurred_at.isoformat() if occurred_at else None,
            lines=lines,
        )

    when = occurred_at or now
    rate = rate_to_eur(currency, when)
    amount_eur = to_eur(amount, rate)
    if amount_eur > MAX_AMOUNT:  # what the books (and the member's facts) can hold
        raise DomainError("amount is too large once converted to EUR.", field="amount")
    locked: list[Member] = []  # the member, once the sale holds its row
    try:
        with transaction.atomic():
            result = _sale(
                member=member,
                member_by=member_by,
                locked=locked,
                channel=channel,
                store=store,
                receipt_id=receipt_id,
                key=key,
                fingerprint=fingerprint,
                amount=amount,
                currency=currency,
                rate=rate,
                amount_eur=amount_eur,
                when=when,
                lines=lines,
                actor=actor,
                client=client,
                now=now,
            )
    except IntegrityError:
        existing = Purchase.objects.filter(receipt_key=key).select_related("member").first()
        if existing is None or not locked:
            raise
        return _replay(existing, fingerprint(locked[0].pk))
    return result


def _sale(
    *,
    member: Member | None,
    member_by: tuple[str, object],
    locked: list[Member],
    channel: str,
    store: Store | None,
    receipt_id: str,
    key: str,
    fingerprint: Callable[[int], str],
    amount: Decimal,
    currency: str,
    rate: Decimal,
    amount_eur: Decimal,
    when: datetime,
    lines: list[dict],
    actor: User | None,
    client: str,
    now: datetime,
) -> SaleResult:
    prog = program()
    velocity_day = None
    if channel == Channel.STORE and prog.max_store_sales_per_day:
        local = when.astimezone(ZoneInfo(store.time_zone))
        velocity_day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    since = qualification_window_start(now)
    # Locks the member's row: this member's sales, returns and redemptions wait here, so
    # caps, challenges and the tier upgrade see a settled member.
    facts = sale_facts(
        member_by=member_by,
        qualifying_since=since,
        top_rank=top_public_rank(),
        velocity_day=velocity_day,
        challenges=challenges_running(when),
    )
    member = facts.member or member
    locked.append(member)
    previous = tier_by_id(facts.tier_id) if facts.tier_id else entry_tier()
    first_purchase = facts.purchase_count == 0
    # On PostgreSQL a first purchase's challenge enrolments go with the write (below).
    enrolments: list | None = [] if hot_sql.available() else None
    earning = carats_for_purchase(
        member=member,
        tier=previous,
        amount_eur=amount_eur,
        occurred_at=when,
        store_code=store.code if store else None,
        channel=channel,
        lines=lines,
        reference=key,
        locked=True,
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
        tier=previous,
        active_enrolments=facts.active_enrolments,
        enrol_later=enrolments,
    )
    carats = earning.carats + challenge.extra_carats
    if carats > MAX_CARATS - max(member.balance, 0):  # the balance is a 32-bit integer
        raise DomainError(
            "This sale would earn more carats than an account can hold; check the amount.",
            field="amount",
        )
    explanation = "; ".join(earning.explanation + challenge.explanation)
    if velocity_day is not None and facts.store_sales_that_day + 1 > prog.max_store_sales_per_day:
        status = "held"  # velocity check: too many store sales in one day of the store
    else:
        status = "pending" if prog.pending_days else "credited"
    post = carats > 0 and status == "credited"
    where = store.name if store else Channel(channel).label
    reason = f"Purchase {receipt_id} at {where}: {explanation}"[:255]
    # The upgrade is decided before the write so the purchase row is written once; the
    # carats of this sale count if they are credited and the sale is inside the window.
    qualifying = None
    if facts.qualifying is not None:
        qualifying = facts.qualifying + (carats if post and when >= since else 0)
    target = upgrade_target(current=previous, qualifying=qualifying) if facts.tier_id else None
    row = {
        "channel": channel,
        "store_id": store.pk if store else None,
        "receipt_id": receipt_id,
        "receipt_key": key,
        "fingerprint": fingerprint(member.pk),
        "amount": amount,
        "currency": currency,
        "rate_to_eur": rate,
        "amount_eur": amount_eur,
        "occurred_at": when,
        "carats_awarded": carats,
        "carats_status": status,
        "earning_reason": explanation[:255],
        "tier_after": (target or previous).code,
        "tier_changed": target is not None,
        "recorded_by_id": actor.pk if actor else None,
        "client": client[:80],
        "created_at": now,
    }
    # On PostgreSQL an upgrade and its mail go in the write's round trip: two round trips
    # fewer for each upgrading sale (three sales in ten in the benchmark's mix); so do a
    # first purchase's challenge enrolments (one round trip fewer, two sales in ten).
    then = []
    if target is not None and hot_sql.available():
        then.append(
            tier_upgrade_statement(
                member=member, current=previous, target=target, qualifying=qualifying, now=now
            )
        )
        mail = message_row(
            member=member,
            trigger="tier_upgraded",
            occasion=_upgrade_occasion(target, now),
            due_at=now,
        )
        if mail is not None:
            then.append(upgrade_mail_statement(mail, member=member, target=target, now=now))
    upgrade_sent = bool(then)  # the upgrade's statement first: written.then[0]
    then += enrolments or []
    written = sale_write(
        member_id=member.pk,
        purchase=row,
        ledger_carats=carats if post else 0,
        ledger_reason=reason,
        actor_id=actor.pk if actor else None,
        now=now,
        then=then,
    )
    # The row as written, for the result and the events (no second read).
    purchase = hot_sql.built(
        Purchase,
        {
            **row,
            "id": written.purchase_id,
            "member_id": member.pk,
            "balance_after": written.balance,
        },
        member=member,
        store=store,
        recorded_by=actor,
    )
    member.balance = written.balance
    if lines:
        PurchaseLine.objects.bulk_create(PurchaseLine(purchase=purchase, **ln) for ln in lines)
    ledger_key = f"purchase:{purchase.pk}"
    if post:
        carats_changed_emit(
            member=member,
            carats=carats,
            kind=LedgerEntry.Kind.PURCHASE,
            reason=reason,
            balance=written.balance,
            key=ledger_key,
        )
    elif carats > 0:
        carats_hold(
            member=member,
            carats=carats,
            reason=reason,
            key=ledger_key,
            occurred_at=when,
            status=status,
            release_at=now + timedelta(days=prog.pending_days) if status == "pending" else None,
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
    mailed = False  # the upgrade mail went with the write
    if facts.tier_id is None:
        # A member without a status yet (created outside the services): give one now.
        tier = tier_reevaluate(member=member, now=now)
    elif target is not None and upgrade_sent:
        moved = written.then[0] is not None
        mailed = moved
        tier = tier_upgrade_done(
            member=member, current=previous, target=target, moved=moved, now=now
        )
    elif target is not None:
        tier = tier_upgrade(
            member=member, current=previous, target=target, qualifying=qualifying, now=now
        )
    else:
        tier = TierResult(tier=previous, previous=previous, changed=False)
    if tier.tier.code != purchase.tier_after or tier.changed != purchase.tier_changed:
        purchase.tier_after, purchase.tier_changed = tier.tier.code, tier.changed
        purchase.save(update_fields=["tier_after", "tier_changed"])
    if tier.changed and not mailed:
        message_schedule(
            member=member,
            trigger="tier_upgraded",
            occasion=_upgrade_occasion(tier.tier, now),
            due_at=now,
        )
    emit("purchase.recorded", member_id=member.pk, data=_sale_event(purchase, member))
    return SaleResult(purchase=purchase, created=True, tier=tier.tier, previous_tier=previous)


def _upgrade_occasion(tier: Tier, now: datetime) -> str:
    return f"tier:{tier.code}:{now.date().isoformat()}"


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
        # The bonus rules' awards go back in proportion: budgets and caps count net.
        awards_on_return(purchase_key=key, returned=returned_total, amount=purchase.amount)
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


def api_key_create(
    *, name: str, store: Store | None = None, scope: str | None = None
) -> tuple[ApiKey, str]:
    """Create an API key; returns the key object and the plain key, which is shown once.
    Without a scope, a store's key is a till's and a key without a store an
    integration's (as the keys made before scopes became). A till key needs a store."""
    scope = scope or (ApiKey.Scope.TILL if store is not None else ApiKey.Scope.INTEGRATION)
    if scope not in ApiKey.Scope.values:
        known = ", ".join(ApiKey.Scope.values)
        raise DomainError(f"Unknown scope {scope!r}; one of: {known}.", field="scope")
    if scope == ApiKey.Scope.TILL and store is None:
        raise DomainError("A till key belongs to a store: name one.", field="store")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(24)
    plain = f"crt_{prefix}_{secret}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=hashlib.sha256(plain.encode()).hexdigest(),
        store=store,
        scope=scope,
    )
    return key, plain
