"""Helpers of the quicker sale on the POS page: the carats of a sale explained in parts,
and the confirmation of a redemption (what it costs, the balance after)."""

import re
from dataclasses import dataclass

_BASE = re.compile(r"^(\d+) for [\d.]+ EUR")
_EXTRA = re.compile(r"^(.+?) \+(\d+)$")


@dataclass(frozen=True)
class Part:
    carats: int
    label: str  # a rule's or challenge's name; "" for the base


def carats_parts(earning_reason: str) -> list[Part] | None:
    """The parts of a sale's carats from its stored explanation (pos.services:
    "250 for 250.00 EUR; Second sparkle +250"). None when it cannot be read (an older or
    truncated explanation): the page then shows the total only."""
    pieces = [p.strip() for p in (earning_reason or "").split(";") if p.strip()]
    if not pieces:
        return None
    base = _BASE.match(pieces[0])
    if base is None:
        return None
    parts = [Part(int(base.group(1)), "")]
    for piece in pieces[1:]:
        extra = _EXTRA.match(piece)
        if extra is None:
            continue  # e.g. "Challenge completed": no carats of its own
        name = re.sub(r" x[\d.]+$", "", extra.group(1))
        parts.append(Part(int(extra.group(2)), name))
    return parts


@dataclass(frozen=True)
class Confirmation:
    reward_id: int
    name: str
    cost: int
    balance: int
    balance_after: int
    once: str


def confirmation(reward, member, once: str) -> Confirmation:
    return Confirmation(
        reward_id=reward.pk,
        name=reward.name,
        cost=reward.cost_carats,
        balance=member.balance,
        balance_after=member.balance - reward.cost_carats,
        once=once[:64],
    )
