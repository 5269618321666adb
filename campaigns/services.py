"""The program's rules: how many carats a sale earns and why; enrolment of new members.

This is the seam for bonus campaigns and caps: `carats_for_purchase` returns the carats
and the explanation, and grows as rules are added without the sales code changing."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction

from members.models import LedgerEntry, Member
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
