"""What a sale would earn, for the console's simulator: the real sale's steps, rolled back.

The simulator runs the sale's own validation and decision (pos.services.sales: the
member's facts, the bonus rules with their windows and caps, the challenges) inside a
transaction that is always rolled back: there is no second implementation of the
program's rules to drift from the till's, and nothing is written (the decision writes
what a rule gave for its caps; the rollback takes it away, with the member's row lock)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from campaigns.services import program
from members.models import Member

from .sales import _sale_decide, _sale_lock, _sale_validated


@dataclass(frozen=True)
class Simulation:
    amount_eur: Decimal
    carats: int
    status: str  # credited, pending (return window) or held (velocity check)
    lines: list[str]  # the explanation, one line per step
    tier: str
    upgrade_to: str | None


def sale_simulate(
    *,
    member: Member,
    amount,
    currency: str,
    channel: str,
    store,
    occurred_at: datetime,
    lines: list[dict] | None = None,
) -> Simulation:
    """Decide a sale as the till would at `occurred_at` (any date, a campaign next month
    too) and write nothing. Bad input: DomainError, as for a real sale."""
    sale = _sale_validated(
        member=member,
        member_code=None,
        channel=channel,
        store=store,
        receipt_id="simulation",
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        max_age=None,
        lines=lines,
        actor=None,
        client="console-simulator",
        # The sale's own time as "now": a date ahead is a question, not a till's clock.
        now=occurred_at,
    )
    with transaction.atomic():
        prog = program()
        facts, velocity_day = _sale_lock(sale, prog, given=member)
        decision = _sale_decide(sale, prog, facts, velocity_day)
        transaction.set_rollback(True)
    return Simulation(
        amount_eur=sale.amount_eur,
        carats=decision.carats,
        status=decision.status,
        lines=[part for part in decision.explanation.split("; ") if part],
        tier=decision.previous.name,
        upgrade_to=decision.target.name if decision.target else None,
    )
