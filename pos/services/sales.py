"""Sales from every channel: the core path of the product, one transaction read top to
bottom (see purchase_record)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import ChallengeEnrolment
from campaigns.services import (
    carats_for_purchase,
    carats_hold,
    challenge_on_purchase,
    challenges_running,
    message_row,
    message_schedule,
    next_morning,
    program,
    referral_first_purchase,
)
from loyalty.kernel import hot_sql
from loyalty.kernel.errors import Conflict, DomainError
from loyalty.kernel.webhooks import emit
from members.models import LedgerEntry, Member, User
from members.selectors import member_code_filter
from members.services import carats_changed_emit
from pos.models import Channel, Purchase, PurchaseLine, Store
from pos.sale_sql import (
    SaleFacts,
    SaleWritten,
    enrolment_statement,
    sale_facts,
    sale_write,
    tier_upgrade_statement,
    upgrade_mail_statement,
)
from pos.selectors import rate_to_eur
from pos.services.catalog import catalog_lines
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
)

from .amounts import (
    MAX_AMOUNT,
    MAX_CARATS,
    MAX_QUANTITY,
    _check_sale_time,
    _fingerprint,
    parse_amount,
    receipt_key,
    to_eur,
)


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
    # A first purchase's challenge enrolments (unsaved rows), written with the write.
    enrolments: list[ChallengeEnrolment] | None

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
    # benchmark's mix), one fewer for a first purchase's enrolments (two in ten). The
    # tiers and campaigns apps decide them as data; pos.sale_sql makes the statements.
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
    then += [enrolment_statement(e) for e in d.enrolments or []]
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
        PurchaseLine.objects.bulk_create(catalog_lines(purchase, sale.lines))
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
