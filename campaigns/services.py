"""The program's rules: how many carats a sale earns and why; enrolment of new members.

This is the seam for bonus campaigns and caps: `carats_for_purchase` returns the carats
and the explanation, and grows as rules are added without the sales code changing."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction

from loyalty.errors import Conflict
from members.models import LedgerEntry, Member, User
from members.services import ledger_post, member_register
from tiers.models import Tier
from tiers.services import tier_assign_initial

from .models import Program


def program() -> Program:
    prog = Program.objects.order_by("pk").first()
    if prog is None:
        prog, _ = Program.objects.get_or_create(pk=1)
    return prog


@dataclass(frozen=True)
class Earning:
    carats: int
    explanation: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.explanation)


def carats_for_purchase(
    *,
    member: Member,
    tier: Tier,
    amount_eur: Decimal,
    occurred_at: datetime,
    store_code: str | None,
    channel: str,
    lines: list[dict] | None = None,
) -> Earning:
    """Base rule: floor(EUR amount x carats per EUR x tier multiplier)."""
    prog = program()
    raw = amount_eur * prog.carats_per_eur * tier.earn_multiplier
    carats = int(raw.to_integral_value(rounding=ROUND_FLOOR))
    explanation = [f"{prog.carats_per_eur:g} per EUR on {amount_eur} EUR"]
    if tier.earn_multiplier != 1:
        explanation.append(f"x{tier.earn_multiplier:g} {tier.name}")
    return Earning(carats=max(carats, 0), explanation=explanation)


@transaction.atomic
def member_enroll(**kwargs) -> Member:
    """Register a member into the program: the member, the entry tier, the sign-up bonus."""
    member = member_register(**kwargs)
    tier_assign_initial(member=member)
    bonus = program().signup_bonus
    if bonus:
        ledger_post(
            member=member,
            carats=bonus,
            kind=LedgerEntry.Kind.BONUS,
            reason="Welcome to the club",
            key=f"signup:{member.pk}",
        )
    return member


@transaction.atomic
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
) -> tuple[Member, User]:
    """A visitor joins on the web. The login stays inactive until the e-mail is confirmed
    (the link is e-mailed after commit). A member who exists already (e.g. registered at
    the counter) without a login gets one the same way; the link proves the address."""
    from members.tasks import send_account_email

    email = (email or "").strip().lower()
    existing = Member.objects.filter(email=email).select_related("user").first()
    if existing is not None and existing.user_id and existing.user.has_usable_password():
        raise Conflict(
            "You already have an account: log in, or reset your password.", field="email"
        )
    user = User.objects.filter(email=email).first()
    if user is not None and user.is_active and user.has_usable_password():
        # Never let a sign-up form set the password of an existing login.
        raise Conflict(
            "You already have an account: log in, or reset your password.", field="email"
        )
    if user is None:
        user = User(email=email, full_name=f"{first_name} {last_name}".strip(), is_active=False)
    user.set_password(password)
    user.save()
    if existing is None:
        member = member_enroll(
            email=email,
            first_name=first_name,
            last_name=last_name,
            birth_date=birth_date,
            language=language,
            source=Member.Source.ONLINE,
            email_opt_in=email_opt_in,
            sms_opt_in=sms_opt_in,
            user=user,
        )
    else:
        member = existing
        Member.objects.filter(pk=member.pk).update(user=user)
        member.user = user
    transaction.on_commit(lambda: send_account_email.delay(user.pk, "verify"))
    return member, user
