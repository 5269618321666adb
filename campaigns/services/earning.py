"""The program's rules: how many carats a sale earns and why; enrolment of new members.

This is the seam for bonus campaigns and caps: `carats_for_purchase` returns the carats
and the explanation, and grows as rules are added without the sales code changing."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from campaigns import experiments
from campaigns.models import ActionRule, ActionType, Award, EarningRule, HeldCarats, Program
from campaigns.periods import period_start
from loyalty.kernel import hot_sql
from loyalty.kernel.config import cached
from loyalty.kernel.errors import Conflict, DomainError
from members.models import LedgerEntry, Member, User
from members.selectors import member_by_referral_code
from members.services import (
    account_mail,
    ledger_post,
    member_account_user,
    member_lock,
    member_register,
)
from tiers.models import Tier
from tiers.services import tier_assign_initial


def program() -> Program:
    return cached("program", _load_program)


def _load_program() -> Program:
    prog = Program.objects.order_by("pk").first()
    if prog is None:
        prog, _ = Program.objects.get_or_create(pk=1)
    return prog


@dataclass(frozen=True)
class Earning:
    carats: int
    explanation: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    base: int = 0

    @property
    def reason(self) -> str:
        return "; ".join(self.explanation)


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def active_earning_rules(at: datetime) -> list[EarningRule]:
    """Rules active when the sale happened (a back-dated sale gets the rules of its day):
    between their start and end and inside their recurring window, decided here in
    Python on the cached rules for every path of a sale (the SQL of the sale's hot path
    never decides a rule)."""
    rules = cached(
        "earning_rules",
        lambda: list(
            EarningRule.objects.filter(active=True)
            .prefetch_related("tiers")
            .order_by("priority", "id")
        ),
    )
    return [r for r in rules if r.applies_at(at)]


def _capped(rule, *, member: Member, carats: int, occurred_at: datetime, lock_budget: bool) -> int:
    """Apply the rule's caps to `carats`: per member and period, then the total budget.
    The caller holds the member's row lock (so two sales of one member cannot both pass
    the per-member cap); the budget is taken under the rule's row lock."""
    field_name = "earning_rule" if isinstance(rule, EarningRule) else "action_rule"
    if rule.max_per_member is not None:
        awards = Award.objects.filter(**{field_name: rule}, member=member)
        start = period_start(rule.cap_period, occurred_at)
        if start is not None:
            awards = awards.filter(occurred_at__gte=start)
        already = awards.aggregate(s=Sum("carats"))["s"] or 0
        carats = min(carats, max(rule.max_per_member - already, 0))
    if carats > 0 and rule.budget_carats is not None:
        model = type(rule)
        locked = model.objects.select_for_update().get(pk=rule.pk) if lock_budget else rule
        # The budget counts every carat the rule ever gave, net of returns, also before
        # the budget was set: the awards are the record (a counter kept only while a
        # budget is set would start at 0 when one is set later). Read after the rule's
        # lock is granted, so the sum sees every award of the sales that held it before
        # (the race prevented: two sales both taking the last carats of the budget).
        given = _rule_awarded(rule)
        carats = min(carats, max(locked.budget_carats - given, 0))
        if carats > 0:
            # The console's figure, written with the budget's decision.
            model.objects.filter(pk=rule.pk).update(carats_given=given + carats)
    return carats


def _rule_awarded(rule) -> int:
    """The carats `rule` has given so far, net of what returns took back."""
    field_name = "earning_rule" if isinstance(rule, EarningRule) else "action_rule"
    return Award.objects.filter(**{field_name: rule}).aggregate(s=Sum("carats"))["s"] or 0


def awards_on_return(*, purchase_key: str, returned: Decimal, amount: Decimal) -> None:
    """A return of `returned` (in all, this one included) out of a sale of `amount`: the
    bonus rules' awards of the sale are taken back in the same proportion (rounded down,
    like the sale's carats), so rule budgets and per-member caps count net of returns."""
    if not amount:
        return
    rows = (
        Award.objects.filter(reference=purchase_key, earning_rule__isnull=False)
        .values("earning_rule", "member")
        .annotate(
            given=Sum("carats", filter=Q(carats__gt=0)),
            back=Sum("carats", filter=Q(carats__lt=0)),
        )
    )
    for row in rows:
        given = row["given"] or 0
        due = int(
            (Decimal(given) * min(returned, amount) / amount).to_integral_value(
                rounding=ROUND_FLOOR
            )
        )
        take = due + (row["back"] or 0)
        if take <= 0:
            continue
        first = (
            Award.objects.filter(reference=purchase_key, earning_rule=row["earning_rule"])
            .order_by("id")
            .first()
        )
        Award.objects.create(
            member_id=row["member"],
            earning_rule_id=row["earning_rule"],
            carats=-take,
            reference=purchase_key,
            occurred_at=first.occurred_at,  # in the sale's cap period
        )
        EarningRule.objects.filter(
            pk=row["earning_rule"], budget_carats__isnull=False, carats_given__gte=take
        ).update(carats_given=F("carats_given") - take)


def carats_for_purchase(
    *,
    member: Member,
    tier: Tier,
    amount_eur: Decimal,
    occurred_at: datetime,
    store_code: str | None,
    channel: str,
    lines: list[dict] | None = None,
    reference: str = "",
    locked: bool = False,
) -> Earning:
    """The carats a sale earns and why. Must run inside the sale's transaction: it records
    what each bonus rule gave (for caps and budgets). `locked`: the caller already holds
    the member's row lock.

    Base: floor(EUR x carats per EUR x tier multiplier). Bonus rules: see EarningRule."""
    prog = program()
    rate = prog.carats_per_eur * tier.earn_multiplier
    base = max(_floor(amount_eur * rate), 0)
    explanation = [f"{base} for {amount_eur} EUR"]
    if tier.earn_multiplier != 1:
        explanation[0] += f" (x{tier.earn_multiplier.normalize():f} {tier.name})"
    rules = active_earning_rules(occurred_at)
    if not rules:
        return Earning(carats=base, explanation=explanation, base=base)
    if not locked:  # the sales path locks the member's row itself, first thing
        # Serialise this member's sales while caps are checked (see _capped).
        member_lock(member.pk)
    total_lines = sum((ln["amount"] * ln.get("quantity", 1) for ln in lines or []), Decimal(0))
    total, names = base, []
    for rule in rules:
        tier_ids = {t.pk for t in rule.tiers.all()}
        if not rule.matches_sale(
            store_code=store_code,
            channel=channel,
            tier_id=tier.pk,
            tier_ids=tier_ids,
            amount_eur=amount_eur,
        ):
            continue
        matched_eur = amount_eur
        if rule.line_filtered:
            matched = sum(
                (
                    ln["amount"] * ln.get("quantity", 1)
                    for ln in lines or []
                    if rule.matches_line(ln)
                ),
                Decimal(0),
            )
            if not matched or not total_lines:
                continue
            matched_eur = amount_eur * matched / total_lines
        if rule.holdout_percent and _rule_held_out(rule, member, reference, occurred_at):
            continue  # for the control group the rule does not exist (nor its stop)
        extra = _floor(_floor(matched_eur * rate) * (rule.multiplier - 1)) + rule.bonus_carats
        extra = _capped(
            rule, member=member, carats=extra, occurred_at=occurred_at, lock_budget=True
        )
        if extra > 0:
            Award.objects.create(
                member=member,
                earning_rule=rule,
                carats=extra,
                reference=reference,
                occurred_at=occurred_at,
            )
            total += extra
            names.append(rule.name)
            explanation.append(f"{rule.name} +{extra}")
        elif rule.holdout_percent:  # capped to nothing: still a treated member
            _exposure_record(rule, member, reference, occurred_at, held=False)
        if rule.stop_further:
            break
    return Earning(carats=total, explanation=explanation, rules=names, base=base)


def _rule_held_out(rule: EarningRule, member: Member, reference: str, at: datetime) -> bool:
    """Whether the member is in the rule's control group (the hash of the rule and the
    member's id: no query). The first time, that is recorded as an Award of 0 carats
    marked held out, once per member and rule (its unique reference), so the uplift
    report reads who was held out without recomputing. A rare path: only a matching sale
    of a held-out member writes, one statement."""
    key = experiments.experiment_key("rule", rule.pk)
    if not experiments.held_out(key, member.pk, rule.holdout_percent):
        return False
    _exposure_record(rule, member, reference, at, held=True)
    return True


def _exposure_record(rule: EarningRule, member: Member, reference: str, at, *, held: bool):
    """An award of 0 carats that says the rule matched this member's sale (held out, or
    treated but capped to nothing), once per rule and member: both groups of the uplift
    report are then everyone the rule matched, whatever the caps did."""
    hot_sql.insert(
        Award(
            member=member,
            earning_rule=rule,
            carats=0,
            reference=reference,
            unique_reference=f"{'holdout' if held else 'exposed'}:{rule.pk}:{member.pk}",
            occurred_at=at,
            held_out=held,
        ),
        unless_exists=True,
    )


@dataclass(frozen=True)
class ActionResult:
    carats: int
    created: bool
    reason: str
    entry_key: str | None


def action_rule_for(action: str, at: datetime) -> ActionRule | None:
    return (
        ActionRule.objects.filter(action=action, active=True, starts_at__lte=at)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .order_by("-starts_at", "-id")
        .first()
    )


def action_record(
    *,
    member: Member,
    action: str,
    reference: str,
    actor: User | None = None,
    occurred_at: datetime | None = None,
) -> ActionResult:
    """Reward an action (review, follow, referral, ...) under its rule's limits.

    Exactly once per (action, member, reference): a replay returns the first result. With
    no active rule, or a cap reached, nothing is given (carats 0) and that is said."""
    if action not in ActionType.values:
        raise DomainError(f"Unknown action type: {action}.", field="type")
    reference = (reference or "").strip()[:120]
    if not reference:
        raise DomainError(
            "A reference is required (e.g. the review or product id).", field="reference"
        )
    now = timezone.now()
    occurred_at = occurred_at or now
    key = f"action:{action}:{member.pk}:{reference}"
    existing = LedgerEntry.objects.filter(key=key).first()
    if existing is not None:
        return ActionResult(existing.carats, False, existing.reason, key)
    with transaction.atomic():
        member_lock(member.pk)  # an erased member: UnknownMember
        existing = LedgerEntry.objects.filter(key=key).first()
        if existing is not None:
            return ActionResult(existing.carats, False, existing.reason, key)
        rule = action_rule_for(action, occurred_at)
        if rule is None:
            return ActionResult(0, False, f"No active rule rewards {action}.", None)
        unique_ref = f"{rule.pk}:{member.pk}:{reference}" if rule.once_per_reference else None
        if unique_ref and Award.objects.filter(unique_reference=unique_ref).exists():
            return ActionResult(0, False, "Already rewarded for this reference.", None)
        carats = _capped(
            rule, member=member, carats=rule.carats, occurred_at=occurred_at, lock_budget=True
        )
        if carats <= 0:
            return ActionResult(0, False, f"Limit reached for {rule.name}.", None)
        Award.objects.create(
            member=member,
            action_rule=rule,
            carats=carats,
            reference=reference,
            unique_reference=unique_ref,
            occurred_at=occurred_at,
        )
        reason = f"{rule.name} ({reference})" if reference != action else rule.name
        ledger_post(
            member=member,
            carats=carats,
            kind=LedgerEntry.Kind.ACTION,
            reason=reason,
            key=key,
            actor=actor,
            occurred_at=occurred_at,
        )
    return ActionResult(carats, True, reason, key)


@transaction.atomic
def member_enroll(*, referral_code: str = "", **kwargs) -> Member:
    """Register a member into the program: the member, the entry tier, the sign-up bonus,
    and the referral (the friend's reward comes now, the referrer's at the first purchase)."""
    member = member_register(**kwargs)
    tier_assign_initial(member=member)
    referrer = None
    if referral_code:
        referrer = member_by_referral_code(referral_code)
        if referrer is not None and referrer.pk != member.pk:
            Member.objects.filter(pk=member.pk).update(referred_by=referrer)
            member.referred_by = referrer
    action_record(member=member, action=ActionType.SIGNUP, reference="signup")
    if member.referred_by_id:
        action_record(member=member, action=ActionType.REFERRAL_FRIEND, reference="referral")
    # The profile rewards (SMS opt-in, complete profile) belong to enrolment too, so every
    # channel -- web sign-up, till, web shop API, demo -- gives the same carats.
    member_profile_rewards(member=member)
    return member


def referral_first_purchase(*, member: Member) -> None:
    """Called by the sales code at a referred member's first purchase: the referrer's
    reward (once per friend)."""
    referrer = (
        Member.objects.filter(pk=member.referred_by_id, erased_at__isnull=True).first()
        if member.referred_by_id
        else None
    )
    if referrer is not None:  # an erased referrer earns nothing any more
        action_record(
            member=referrer,
            action=ActionType.REFERRAL_REFERRER,
            reference=f"friend:{member.member_number}",
        )


@dataclass(frozen=True)
class Signup:
    """What a web sign-up did. `user` is set only when a new login was created with the
    submitted password (it stays closed until the address is proven); for an address that
    belongs to someone already nothing was changed and the owner was mailed instead. The
    page must answer the same in both cases, so it never tells who is a member."""

    user: User | None = None


def member_signup_online(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    birth_date=None,
    language: str = "en",
    email_opt_in: bool = False,
    sms_opt_in: bool = False,
    referral_code: str = "",
) -> Signup:
    """A visitor joins on the web.

    A new address: the member is enrolled (as on every channel, see member_enroll) with
    a login that stays closed until the link mailed to the address is followed.

    An address that belongs to a member or a login already: the submitted password and
    profile are never stored -- a password chosen before the address is proven must not
    take effect. The owner is mailed instead: a member whose login was never opened gets
    a link to choose a password (claim the membership), one with an open login a reminder
    with a reset link. A staff login, a deactivated or an erased one gets nothing and is
    not changed (see account_open_to_member_pages)."""
    email = (email or "").strip().lower()
    try:
        with transaction.atomic():
            if not _address_taken(email):
                user = User(
                    email=email,
                    full_name=f"{first_name} {last_name}".strip(),
                    is_active=False,
                    pending_activation=True,
                )
                user.set_password(password)
                user.save()
                member_enroll(
                    email=email,
                    first_name=first_name,
                    last_name=last_name,
                    birth_date=birth_date,
                    language=language,
                    source=Member.Source.ONLINE,
                    email_opt_in=email_opt_in,
                    sms_opt_in=sms_opt_in,
                    user=user,
                    referral_code=referral_code,
                )
                account_mail(user=user, kind="verify")
                return Signup(user=user)
    except (IntegrityError, Conflict):
        pass  # the same address joined concurrently: it is taken now
    # Spend the time a new sign-up spends hashing, so the answer's delay does not tell.
    make_password(password)
    with transaction.atomic():
        _owner_remind(email)
    return Signup()


def _address_taken(email: str) -> bool:
    return (
        Member.objects.filter(email=email).exists()
        or User.objects.filter(email__iexact=email).exists()
    )


def _owner_remind(email: str) -> None:
    """Someone joined with an address that is taken: mail its owner, change nothing."""
    member = (
        Member.objects.filter(email=email, erased_at__isnull=True).select_related("user").first()
    )
    if member is not None and member.user_id:
        user = member.user
    else:
        # A login of this address that is not the member's (e.g. a staff login) is left
        # alone: account_mail only mails a member's own login.
        user = User.objects.filter(email__iexact=email).first()
        if user is None and member is not None:
            user = member_account_user(member)  # a login waiting for its owner
    if user is None:
        return
    account_mail(user=user, kind="existing" if user.is_active else "claim")


def member_profile_rewards(*, member: Member) -> list[ActionResult]:
    """Rewards for a profile worth having: complete (names, phone, birth date) and SMS
    opt-in. Each once per member; called by the edges after a profile change."""
    member.refresh_from_db()
    results = []
    if member.first_name and member.last_name and member.phone and member.birth_date:
        results.append(
            action_record(member=member, action=ActionType.PROFILE_COMPLETED, reference="profile")
        )
    if member.sms_opt_in:
        results.append(action_record(member=member, action=ActionType.SMS_OPT_IN, reference="sms"))
    if member.first_name and member.last_name and member.phone and member.birth_date:
        from campaigns.services.challenges import challenge_on_profile

        challenge_on_profile(member=member)
    return results


def carats_hold(
    *,
    member: Member,
    carats: int,
    reason: str,
    key: str,
    occurred_at: datetime,
    status: str,
    release_at: datetime | None = None,
) -> HeldCarats:
    """Keep earned carats off the balance: held for review (velocity check) or pending
    until the return window has passed."""
    return HeldCarats.objects.create(
        member=member,
        carats=carats,
        reason=reason[:255],
        key=key,
        occurred_at=occurred_at,
        status=status,
        release_at=release_at,
    )


def held_reduce(*, key: str, carats: int) -> int:
    """A return inside the window: take carats back from the held/pending amount first.
    Returns how many were taken from there."""
    held = (
        HeldCarats.objects.select_for_update()
        .filter(key=key, status__in=[HeldCarats.Status.HELD, HeldCarats.Status.PENDING])
        .first()
    )
    if held is None or carats <= 0:
        return 0
    taken = min(carats, held.carats)
    held.carats -= taken
    if held.carats == 0:
        held.status = HeldCarats.Status.CANCELLED
        held.decided_at = timezone.now()
    held.save(update_fields=["carats", "status", "decided_at"])
    return taken


def held_release(*, held: HeldCarats, actor: User | None = None) -> bool:
    """Credit held or pending carats (approval, or the end of the return window). They are
    booked as purchase carats at the sale's time, so they count for tiers from now on."""
    from tiers.services import tier_reevaluate

    with transaction.atomic():
        row = HeldCarats.objects.select_for_update().get(pk=held.pk)
        if row.status not in (HeldCarats.Status.HELD, HeldCarats.Status.PENDING):
            return False
        if row.member.erased_at:
            # The account is closed: what was held is never credited (the balance was
            # written off at the erasure).
            row.status = HeldCarats.Status.CANCELLED
            row.decided_by, row.decided_at = actor, timezone.now()
            row.save(update_fields=["status", "decided_by", "decided_at"])
            return False
        if row.carats > 0:
            ledger_post(
                member=row.member,
                carats=row.carats,
                kind=LedgerEntry.Kind.PURCHASE,
                reason=row.reason,
                key=row.key,
                actor=actor,
                occurred_at=row.occurred_at,
            )
        row.status = HeldCarats.Status.RELEASED
        row.decided_by, row.decided_at = actor, timezone.now()
        row.save(update_fields=["status", "decided_by", "decided_at"])
        tier_reevaluate(member=row.member)
    return True


def held_reject(*, held: HeldCarats, actor: User) -> bool:
    with transaction.atomic():
        row = HeldCarats.objects.select_for_update().get(pk=held.pk)
        if row.status != HeldCarats.Status.HELD:
            return False
        row.status = HeldCarats.Status.REJECTED
        row.decided_by, row.decided_at = actor, timezone.now()
        row.save(update_fields=["status", "decided_by", "decided_at"])
    return True


def pending_release_due(*, now: datetime | None = None, batch: int = 1000) -> int:
    """The nightly job: credit every pending amount whose return window has passed.
    Works through the due rows in chunks by id; each release is its own transaction."""
    now = now or timezone.now()
    released, last_id = 0, 0
    while True:
        chunk = list(
            HeldCarats.objects.filter(
                status=HeldCarats.Status.PENDING, release_at__lte=now, id__gt=last_id
            )
            .select_related("member")
            .order_by("id")[:batch]
        )
        if not chunk:
            return released
        for row in chunk:
            released += held_release(held=row)
        last_id = chunk[-1].pk
