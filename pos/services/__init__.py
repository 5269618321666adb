"""Sales from every channel: the core path of the product.

purchase_record: record the Purchase (idempotent on channel+store+receipt), convert to EUR
at the rate valid when the sale happened, write the purchase facts on the member, let the
program compute the carats, credit them on the ledger, re-evaluate the tier — one database
transaction, read top to bottom."""

import hashlib
import json
import re
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
from pos.models import ApiKey, Channel, Purchase, PurchaseLine, Return, Store
from pos.sale_sql import SaleFacts, SaleWritten, sale_facts, sale_write, upgrade_mail_statement
from pos.selectors import rate_to_eur
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


@dataclass
class Sale:
    """One sale, validated (step 1): what the channel sent, converted to EUR, with its
    receipt key. `member` is the member once the sale holds their row (step 2): a replay
    that fails on the receipt key compares fingerprints with that member."""

    member_by: tuple[str, object]
    channel: str
    store: Store | None
    receipt_id: str
    key: str
    amount: Decimal
    currency: str
    occurred_at: datetime | None
    rate: Decimal
    amount_eur: Decimal
    lines: list[dict]
    actor: User | None
    client: str
    now: datetime
    member: Member | None = None

    @property
    def when(self) -> datetime:
        return self.occurred_at or self.now

    def fingerprint(self, member_pk: int) -> str:
        return _fingerprint(
            member=member_pk,
            amount=str(self.amount),
            currency=self.currency,
            occurred_at=self.occurred_at.isoformat() if self.occurred_at else None,
            lines=self.lines,
        )


@dataclass(frozen=True)
class SaleDecision:
    """The program's decisions about one sale (step 3), before anything is written: the
    carats and their status, the explanation, the tier it reaches."""

    previous: Tier
    first_purchase: bool
    carats: int
    status: str  # credited, pending (return window) or held (velocity check)
    explanation: str
    reason: str
    since: datetime  # the start of the qualifying window
    qualifying: int | None
    target: Tier | None  # the upgrade, if the sale reaches a higher public tier
    enrolments: list | None  # a first purchase's challenge enrolments, sent with the write

    @property
    def post(self) -> bool:
        """The carats go on the ledger now (not kept aside)."""
        return self.carats > 0 and self.status == "credited"


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
    and then takes the replay path.

    The story, one step a function: validate (_sale_validated) -> lock the member and
    read the facts (_sale_lock) -> decide (_sale_decide) -> write (_sale_write) -> what
    follows the write (_sale_after)."""
    sale = _sale_validated(
        member=member,
        member_code=member_code,
        channel=channel,
        store=store,
        receipt_id=receipt_id,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        max_age=max_age,
        lines=lines,
        actor=actor,
        client=client,
        now=now or timezone.now(),
    )
    try:
        with transaction.atomic():
            prog = program()
            facts, velocity_day = _sale_lock(sale, prog, given=member)
            decision = _sale_decide(sale, prog, facts, velocity_day)
            purchase, written, upgrade_sent = _sale_write(sale, decision)
            return _sale_after(sale, prog, facts, decision, purchase, written, upgrade_sent)
    except IntegrityError:
        existing = Purchase.objects.filter(receipt_key=sale.key).select_related("member").first()
        if existing is None or sale.member is None:
            raise
        return _replay(existing, sale.fingerprint(sale.member.pk))


def _sale_validated(
    *,
    member: Member | None,
    member_code: str | None,
    channel: str,
    store: Store | None,
    receipt_id: str,
    amount,
    currency: str,
    occurred_at: datetime | None,
    max_age: timedelta | None,
    lines: list[dict] | None,
    actor: User | None,
    client: str,
    now: datetime,
) -> Sale:
    """Step 1: the sale's input checked and converted to EUR at the rate valid when it
    happened; nothing read from the member yet."""
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
    rate = rate_to_eur(currency, occurred_at or now)
    amount_eur = to_eur(amount, rate)
    if amount_eur > MAX_AMOUNT:  # what the books (and the member's facts) can hold
        raise DomainError("amount is too large once converted to EUR.", field="amount")
    return Sale(
        member_by=member_by,
        channel=channel,
        store=store,
        receipt_id=receipt_id,
        key=receipt_key(channel, store, receipt_id),
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        rate=rate,
        amount_eur=amount_eur,
        lines=lines,
        actor=actor,
        client=client,
        now=now,
    )


def _sale_lock(sale: Sale, prog, *, given: Member | None) -> tuple[SaleFacts, datetime | None]:
    """Step 2: lock the member's row and read the facts the program decides on, in one
    round trip. This member's sales, returns and redemptions wait here, so caps,
    challenges and the tier upgrade see a settled member."""
    velocity_day = None
    if sale.channel == Channel.STORE and prog.max_store_sales_per_day:
        local = sale.when.astimezone(ZoneInfo(sale.store.time_zone))
        velocity_day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    facts = sale_facts(
        member_by=sale.member_by,
        qualifying_since=qualification_window_start(sale.now),
        top_rank=top_public_rank(),
        velocity_day=velocity_day,
        challenges=challenges_running(sale.when),
    )
    sale.member = facts.member or given
    return facts, velocity_day


def _sale_decide(sale: Sale, prog, facts: SaleFacts, velocity_day) -> SaleDecision:
    """Step 3: the program's decisions, from the facts and the cached configuration: the
    carats (rules, caps, challenges), credited or kept aside, and the tier they reach."""
    member, when = sale.member, sale.when
    since = qualification_window_start(sale.now)
    previous = tier_by_id(facts.tier_id) if facts.tier_id else entry_tier()
    first_purchase = facts.purchase_count == 0
    # On PostgreSQL a first purchase's challenge enrolments go with the write.
    enrolments: list | None = [] if hot_sql.available() else None
    earning = carats_for_purchase(
        member=member,
        tier=previous,
        amount_eur=sale.amount_eur,
        occurred_at=when,
        store_code=sale.store.code if sale.store else None,
        channel=sale.channel,
        lines=sale.lines,
        reference=sale.key,
        locked=True,
    )
    challenge = challenge_on_purchase(
        member=member,
        purchase_key=sale.key,
        amount_eur=sale.amount_eur,
        channel=sale.channel,
        categories={ln["category"].lower() for ln in sale.lines if ln["category"]},
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
    where = sale.store.name if sale.store else Channel(sale.channel).label
    # The upgrade is decided before the write so the purchase row is written once; the
    # carats of this sale count if they are credited and the sale is inside the window.
    qualifying = None
    if facts.qualifying is not None:
        qualifying = facts.qualifying + (carats if post and when >= since else 0)
    target = upgrade_target(current=previous, qualifying=qualifying) if facts.tier_id else None
    return SaleDecision(
        previous=previous,
        first_purchase=first_purchase,
        carats=carats,
        status=status,
        explanation=explanation,
        reason=f"Purchase {sale.receipt_id} at {where}: {explanation}"[:255],
        since=since,
        qualifying=qualifying,
        target=target,
        enrolments=enrolments,
    )


def _sale_write(sale: Sale, d: SaleDecision) -> tuple[Purchase, SaleWritten, bool]:
    """Step 4: one statement moves the member's purchase facts and balance and inserts
    the purchase and its ledger line; on PostgreSQL an upgrade and its mail, and a first
    purchase's challenge enrolments, go in the same round trip. Returns the purchase as
    written (no second read), what the statement returned, and whether the upgrade went
    with it."""
    member, actor, now = sale.member, sale.actor, sale.now
    row = {
        "channel": sale.channel,
        "store_id": sale.store.pk if sale.store else None,
        "receipt_id": sale.receipt_id,
        "receipt_key": sale.key,
        "fingerprint": sale.fingerprint(member.pk),
        "amount": sale.amount,
        "currency": sale.currency,
        "rate_to_eur": sale.rate,
        "amount_eur": sale.amount_eur,
        "occurred_at": sale.when,
        "carats_awarded": d.carats,
        "carats_status": d.status,
        "earning_reason": d.explanation[:255],
        "tier_after": (d.target or d.previous).code,
        "tier_changed": d.target is not None,
        "recorded_by_id": actor.pk if actor else None,
        "client": sale.client[:80],
        "created_at": now,
    }
    # Two round trips fewer for each upgrading sale (three sales in ten in the
    # benchmark's mix), one fewer for a first purchase's enrolments (two in ten).
    then = []
    if d.target is not None and hot_sql.available():
        then.append(
            tier_upgrade_statement(
                member=member, current=d.previous, target=d.target, qualifying=d.qualifying, now=now
            )
        )
        mail = message_row(
            member=member,
            trigger="tier_upgraded",
            occasion=_upgrade_occasion(d.target, now),
            due_at=now,
        )
        if mail is not None:
            then.append(upgrade_mail_statement(mail, member=member, target=d.target, now=now))
    upgrade_sent = bool(then)  # the upgrade's statement first: written.then[0]
    then += d.enrolments or []
    written = sale_write(
        member_id=member.pk,
        purchase=row,
        ledger_carats=d.carats if d.post else 0,
        ledger_reason=d.reason,
        actor_id=actor.pk if actor else None,
        now=now,
        then=then,
    )
    purchase = hot_sql.built(
        Purchase,
        {
            **row,
            "id": written.purchase_id,
            "member_id": member.pk,
            "balance_after": written.balance,
        },
        member=member,
        store=sale.store,
        recorded_by=actor,
    )
    member.balance = written.balance
    if sale.lines:
        PurchaseLine.objects.bulk_create(PurchaseLine(purchase=purchase, **ln) for ln in sale.lines)
    return purchase, written, upgrade_sent


def _sale_after(
    sale: Sale,
    prog,
    facts: SaleFacts,
    d: SaleDecision,
    purchase: Purchase,
    written: SaleWritten,
    upgrade_sent: bool,
) -> SaleResult:
    """Step 5: what follows the write in the same transaction, each only when it happens:
    the ledger's event or the carats kept aside, the referral reward, the service mail,
    the tier (re-evaluated, or the upgrade finished), the webhook event."""
    member, now = sale.member, sale.now
    ledger_key = f"purchase:{purchase.pk}"
    if d.post:
        carats_changed_emit(
            member=member,
            carats=d.carats,
            kind=LedgerEntry.Kind.PURCHASE,
            reason=d.reason,
            balance=written.balance,
            key=ledger_key,
        )
    elif d.carats > 0:
        carats_hold(
            member=member,
            carats=d.carats,
            reason=d.reason,
            key=ledger_key,
            occurred_at=sale.when,
            status=d.status,
            release_at=now + timedelta(days=prog.pending_days) if d.status == "pending" else None,
        )
    if d.first_purchase:
        referral_first_purchase(member=member)
    if any(ln["service_guarantee"] for ln in sale.lines):
        message_schedule(
            member=member,
            trigger="service_guarantee",
            occasion=f"guarantee:{purchase.pk}",
            due_at=next_morning(member, after=sale.when),
        )
    tier, mailed = _sale_tier(sale, facts, d, written, upgrade_sent)
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
    return SaleResult(purchase=purchase, created=True, tier=tier.tier, previous_tier=d.previous)


def _sale_tier(
    sale: Sale, facts: SaleFacts, d: SaleDecision, written: SaleWritten, upgrade_sent: bool
) -> tuple[TierResult, bool]:
    """The member's tier after the sale, and whether its upgrade mail went with the write."""
    member, now = sale.member, sale.now
    if facts.tier_id is None:
        # A member without a status yet (created outside the services): give one now.
        return tier_reevaluate(member=member, now=now), False
    if d.target is not None and upgrade_sent:
        moved = written.then[0] is not None
        tier = tier_upgrade_done(
            member=member, current=d.previous, target=d.target, moved=moved, now=now
        )
        return tier, moved
    if d.target is not None:
        tier = tier_upgrade(
            member=member, current=d.previous, target=d.target, qualifying=d.qualifying, now=now
        )
        return tier, False
    return TierResult(tier=d.previous, previous=d.previous, changed=False), False


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
