"""Challenges: goals with a deadline ("Second sparkle": a second purchase within 90 days
of the first earns double carats). Progress is moved by the services that record sales
and profile changes, in their transaction — nothing polls."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db.models import F, Q
from django.utils import timezone

from campaigns import experiments
from campaigns.models import Badge, Challenge, ChallengeEnrolment
from campaigns.segments import segment_members
from loyalty.kernel import hot_sql
from loyalty.kernel.config import cached
from members.models import LedgerEntry, Member
from members.services import ledger_post
from tiers.models import Tier
from tiers.selectors import member_tier

# Goals a purchase can complete.
PURCHASE_GOALS = {"second_purchase", "spend", "new_category", "other_channel"}


@dataclass
class ChallengeOutcome:
    extra_carats: int = 0
    explanation: list[str] = field(default_factory=list)
    completed: list[ChallengeEnrolment] = field(default_factory=list)


def _open_challenges(at: datetime) -> list[Challenge]:
    challenges = cached(
        "challenges",
        lambda: list(
            Challenge.objects.filter(active=True)
            .select_related("segment")
            .prefetch_related("tiers")
        ),
    )
    return [c for c in challenges if c.starts_at <= at and (c.ends_at is None or c.ends_at > at)]


def challenges_running(at: datetime) -> bool:
    """Whether any challenge is open at `at` (a sale then reads the member's enrolments)."""
    return bool(_open_challenges(at))


def _deadline(ch: Challenge, start: datetime) -> datetime | None:
    ends = [
        d
        for d in (ch.ends_at, start + timedelta(days=ch.window_days) if ch.window_days else None)
        if d
    ]
    return min(ends) if ends else None


def _enrolment(ch: Challenge, member: Member, at: datetime, baseline: dict) -> ChallengeEnrolment:
    """The enrolment row; for a member of the challenge's control group (the experiments'
    hash of the challenge and the member's id, no query) a row that says "held out": it
    takes the member's one place in the challenge, never moves and gives nothing."""
    held = ch.holdout_percent and experiments.held_out(
        experiments.experiment_key("challenge", ch.pk), member.pk, ch.holdout_percent
    )
    return ChallengeEnrolment(
        challenge=ch,
        member=member,
        enrolled_at=at,
        deadline=_deadline(ch, at),
        baseline=baseline,
        status=ChallengeEnrolment.Status.HELD_OUT if held else ChallengeEnrolment.Status.ACTIVE,
    )


def _enrol(
    ch: Challenge, member: Member, at: datetime, baseline: dict
) -> ChallengeEnrolment | None:
    """The new active enrolment, or None (enrolled already, or held out)."""
    enrolment = _enrolment(ch, member, at, baseline)
    # One statement: a first purchase enrols in every first-purchase challenge.
    written = hot_sql.insert(enrolment, unless_exists=True)
    return enrolment if written and enrolment.status == ChallengeEnrolment.Status.ACTIVE else None


def _eligible(ch: Challenge, member: Member, tier: Tier | None = None) -> bool:
    if ch.enrolment == Challenge.Enrolment.TIER:
        tier_ids = {t.pk for t in ch.tiers.all()}
        return (tier or member_tier(member)).pk in tier_ids
    if ch.enrolment == Challenge.Enrolment.SEGMENT and ch.segment_id:
        return segment_members(ch.segment).filter(pk=member.pk).exists()
    return False


def challenge_on_purchase(
    *,
    member: Member,
    purchase_key: str,
    amount_eur: Decimal,
    channel: str,
    categories: set[str],
    occurred_at: datetime,
    first_purchase: bool,
    base_carats: int,
    tier: Tier | None = None,
    active_enrolments: int | None = None,
    enrol_later: list | None = None,
) -> ChallengeOutcome:
    """Enrol (first purchase, tier, segment), move progress, complete and reward. The
    multiplier reward comes back as extra carats for the sale's own ledger line; other
    rewards are booked here. Runs inside the sale's transaction (the member row is
    locked there), so a replayed receipt never reaches it twice. `tier` and
    `active_enrolments` (the member's tier and number of active enrolments, when the
    caller has read them) save their queries.

    `enrol_later`: a list for the first-purchase enrolments (unsaved rows, the decision
    as data), when the member has no active enrolment: the caller writes them with its
    write, in the same transaction (pos.sale_sql, on PostgreSQL). Nothing here reads them
    back then: they do not count this sale, and no earlier enrolment of the member can be
    moved by it."""
    outcome = ChallengeOutcome()
    baseline = {"channel": channel, "categories": sorted(categories)}
    fresh: set[int] = set()
    enrolled_now = False
    for ch in _open_challenges(occurred_at):
        if ch.enrolment == Challenge.Enrolment.FIRST_PURCHASE:
            if not first_purchase:
                continue
            if enrol_later is not None and active_enrolments == 0:
                enrol_later.append(_enrolment(ch, member, occurred_at, baseline))
            elif _enrol(ch, member, occurred_at, baseline):
                fresh.add(ch.pk)  # the first purchase starts the challenge, it does not count
        elif _eligible(ch, member, tier) and _enrol(
            ch, member, occurred_at, {"channel": "", "categories": []}
        ):
            enrolled_now = True
    if active_enrolments == 0 and not enrolled_now:
        return outcome  # nothing to move: no query for enrolments
    active = (
        ChallengeEnrolment.objects.select_for_update(of=("self",))
        .select_related("challenge", "challenge__reward_voucher")
        .filter(member=member, status=ChallengeEnrolment.Status.ACTIVE)
        .filter(Q(deadline__isnull=True) | Q(deadline__gte=occurred_at))
        .exclude(challenge_id__in=fresh)
    )
    for enrolment in active:
        enrolment.member = member  # the sale's member: no query to load it again
        ch = enrolment.challenge
        if ch.goal not in PURCHASE_GOALS or enrolment.enrolled_at > occurred_at:
            continue
        done = False
        if ch.goal == Challenge.Goal.SECOND_PURCHASE:
            done = True
        elif ch.goal == Challenge.Goal.SPEND:
            enrolment.progress += amount_eur
            done = enrolment.progress >= ch.goal_amount
        elif ch.goal == Challenge.Goal.NEW_CATEGORY:
            done = bool(categories - set(enrolment.baseline.get("categories", [])))
        elif ch.goal == Challenge.Goal.OTHER_CHANNEL:
            first = enrolment.baseline.get("channel")
            done = bool(first) and channel != first
        if not done:
            enrolment.save(update_fields=["progress"])
            continue
        extra = _complete(enrolment, key=purchase_key, base_carats=base_carats, at=occurred_at)
        outcome.completed.append(enrolment)
        if extra:
            outcome.extra_carats += extra
            outcome.explanation.append(f"{ch.name} x{ch.reward_multiplier.normalize():f} +{extra}")
        else:
            outcome.explanation.append(f"{ch.name} completed")
    return outcome


def _budget_take(ch: Challenge, carats: int) -> int:
    if carats <= 0:
        return 0
    if ch.budget_carats is not None:
        locked = Challenge.objects.select_for_update().get(pk=ch.pk)
        carats = min(carats, max(locked.budget_carats - locked.carats_given, 0))
    if carats > 0:
        Challenge.objects.filter(pk=ch.pk).update(carats_given=F("carats_given") + carats)
    return carats


def _complete(enrolment: ChallengeEnrolment, *, key: str, base_carats: int, at: datetime) -> int:
    """Mark completed and give the rewards; returns the multiplier's extra carats."""
    from campaigns.services.rewards import voucher_issue_gift

    ch = enrolment.challenge
    enrolment.status = ChallengeEnrolment.Status.COMPLETED
    enrolment.completed_at, enrolment.completed_by = at, key
    extra = 0
    if ch.reward_multiplier > 1 and base_carats > 0:
        raw = Decimal(base_carats) * (ch.reward_multiplier - 1)
        extra = _budget_take(ch, int(raw.to_integral_value(rounding=ROUND_FLOOR)))
    bonus = _budget_take(ch, ch.reward_carats)
    if bonus:
        ledger_post(
            member=enrolment.member,
            carats=bonus,
            kind=LedgerEntry.Kind.BONUS,
            reason=f"Challenge completed: {ch.name}",
            key=f"challenge:{enrolment.pk}",
            occurred_at=at,
        )
    if ch.reward_voucher_id:
        voucher_issue_gift(member=enrolment.member, reward=ch.reward_voucher, source="challenge")
    if ch.badge:
        hot_sql.insert(
            Badge(member=enrolment.member, challenge=ch, name=ch.badge), unless_exists=True
        )
    enrolment.carats_given = extra + bonus
    enrolment.save(
        update_fields=["status", "completed_at", "completed_by", "carats_given", "progress"]
    )
    return extra


def challenge_on_return(
    *,
    member: Member,
    purchase_key: str,
    amount_eur: Decimal,
    fully_returned: bool,
    now: datetime | None = None,
) -> list[ChallengeEnrolment]:
    """A return that undoes the qualifying purchase undoes the completion: the badge and
    the bonus carats go back (never below zero); the multiplier's carats go back with the
    sale's own carats, in proportion. The member may complete it again in the window."""
    now = now or timezone.now()
    undone = []
    spends = (
        ChallengeEnrolment.objects.select_for_update(of=("self",))
        .select_related("challenge")
        .filter(member=member, challenge__goal=Challenge.Goal.SPEND)
    )
    for enrolment in spends.filter(status=ChallengeEnrolment.Status.ACTIVE):
        enrolment.progress = max(enrolment.progress - amount_eur, Decimal(0))
        enrolment.save(update_fields=["progress"])
    completed = (
        ChallengeEnrolment.objects.select_for_update(of=("self",))
        .select_related("challenge")
        .filter(
            member=member, completed_by=purchase_key, status=ChallengeEnrolment.Status.COMPLETED
        )
    )
    for enrolment in completed:
        ch = enrolment.challenge
        if ch.goal == Challenge.Goal.SPEND:
            enrolment.progress = max(enrolment.progress - amount_eur, Decimal(0))
            still = enrolment.progress >= ch.goal_amount
        else:
            still = not fully_returned
        if still:
            enrolment.save(update_fields=["progress"])
            continue
        bonus = LedgerEntry.objects.filter(key=f"challenge:{enrolment.pk}").first()
        if bonus is not None:
            balance = Member.objects.values_list("balance", flat=True).get(pk=member.pk)
            back = min(bonus.carats, balance)
            if back:
                ledger_post(
                    member=member,
                    carats=-back,
                    kind=LedgerEntry.Kind.ADJUSTMENT,
                    reason=f"Challenge undone by a return: {ch.name}",
                    key=f"challenge-undo:{enrolment.pk}:{purchase_key}",
                    occurred_at=now,
                )
        Badge.objects.filter(member=member, challenge=ch).delete()
        Challenge.objects.filter(pk=ch.pk, carats_given__gte=enrolment.carats_given).update(
            carats_given=F("carats_given") - enrolment.carats_given
        )
        expired = enrolment.deadline is not None and enrolment.deadline < now
        enrolment.status = (
            ChallengeEnrolment.Status.EXPIRED if expired else ChallengeEnrolment.Status.ACTIVE
        )
        enrolment.completed_at, enrolment.completed_by, enrolment.carats_given = None, "", 0
        enrolment.save(
            update_fields=["status", "completed_at", "completed_by", "carats_given", "progress"]
        )
        undone.append(enrolment)
    return undone


def challenge_on_profile(*, member: Member) -> None:
    """Profile-completion challenges complete when the profile is complete."""
    now = timezone.now()
    for enrolment in (
        ChallengeEnrolment.objects.select_related("challenge")
        .filter(member=member, status="active", challenge__goal=Challenge.Goal.PROFILE)
        .filter(Q(deadline__isnull=True) | Q(deadline__gte=now))
    ):
        _complete(enrolment, key="profile", base_carats=0, at=now)


def challenges_expire(*, now: datetime | None = None) -> int:
    """Daily: close the challenges whose window has passed (one UPDATE)."""
    now = now or timezone.now()
    return ChallengeEnrolment.objects.filter(
        status=ChallengeEnrolment.Status.ACTIVE, deadline__lt=now
    ).update(status=ChallengeEnrolment.Status.EXPIRED)


@dataclass(frozen=True)
class ChallengeView:
    enrolment: ChallengeEnrolment
    percent: int
    days_left: int | None
    hint: str


def challenges_for_member(member: Member, *, now: datetime | None = None) -> list[ChallengeView]:
    """Active challenges with progress, time left and what the next sale would do."""
    now = now or timezone.now()
    views = []
    for e in (
        ChallengeEnrolment.objects.select_related("challenge")
        .filter(member=member, status="active")
        .filter(Q(deadline__isnull=True) | Q(deadline__gte=now))
    ):
        ch = e.challenge
        percent = 0
        if ch.goal == Challenge.Goal.SECOND_PURCHASE:
            percent = 50  # one purchase of two
        elif ch.goal == Challenge.Goal.SPEND and ch.goal_amount:
            percent = min(100, int(e.progress * 100 / ch.goal_amount))
        days_left = max((e.deadline - now).days, 0) if e.deadline else None
        if ch.goal == Challenge.Goal.SECOND_PURCHASE and ch.reward_multiplier > 1:
            hint = f"{ch.reward_multiplier.normalize():f}x carats on this sale: {ch.name}"
        elif ch.goal == Challenge.Goal.SPEND:
            hint = f"{ch.name}: {e.progress:.0f} of {ch.goal_amount:.0f} EUR"
        else:
            hint = f"{ch.name}: {ch.get_goal_display()}"
        views.append(ChallengeView(e, percent, days_left, hint))
    return views
