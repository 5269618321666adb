"""The number cards: each figure beside the previous period's, formatted (a
declarative table of cards)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.formats import number_format

from loyalty.console import kpis
from loyalty.console.kpis import Dashboard, Rate

from .form import NONE

# --- formatting ---------------------------------------------------------------------


def fmt_int(n) -> str:
    return NONE if n is None else number_format(n, force_grouping=True)


def fmt_eur(d: Decimal | None, places: int = 0) -> str:
    if d is None:
        return NONE
    q = Decimal(1).scaleb(-places)
    return "€" + number_format(d.quantize(q, ROUND_HALF_UP), places, force_grouping=True)


def fmt_eur_short(d: Decimal | None) -> str:
    """For a card: whole euros, millions as €1.25M (the exact figure is in the tables)."""
    if d is not None and abs(d) >= 1_000_000:
        return "€" + number_format((d / 1_000_000).quantize(Decimal("0.01")), 2) + "M"
    return fmt_eur(d)


def fmt_rate(r: Rate | None) -> str:
    if r is None or r.percent is None:
        return NONE
    return f"{r.percent} %"


def fmt_dec(d: Decimal | None, places: int = 1) -> str:
    if d is None:
        return NONE
    return number_format(d, places, force_grouping=True)


def _change(cur, prev, *, rate: bool = False) -> tuple[str, int]:
    """(text, direction): percent change for amounts, percentage points for rates."""
    if rate:
        if cur is None or prev is None or cur.value is None or prev.value is None:
            return "", 0
        diff = ((cur.value - prev.value) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
        sign = 1 if diff > 0 else -1 if diff < 0 else 0
        return f"{diff:+} pp", sign
    if cur is None or prev is None:
        return "", 0
    if prev == 0:
        return ("new", 1) if cur else ("", 0)
    pct = (Decimal(cur - prev) * 100 / Decimal(prev)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    sign = 1 if pct > 0 else -1 if pct < 0 else 0
    return f"{pct:+} %", sign


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: str
    previous: str
    change: str
    tone: str  # good, bad or flat
    help: str
    raw: object  # the number for the CSV
    raw_previous: object


def _card(key, label, cur, prev, fmt, *, better="up", rate=False, help="") -> Card:
    change, direction = _change(cur, prev, rate=rate)
    tone = "flat"
    if direction and better:
        tone = "good" if (direction > 0) == (better == "up") else "bad"
    raw = cur.percent if rate and cur is not None else cur
    raw_prev = prev.percent if rate and prev is not None else prev
    return Card(key, label, fmt(cur), fmt(prev), change, tone, help, raw, raw_prev)


def cards(d: Dashboard) -> dict[str, list[Card]]:
    c, p = d.current, d.previous
    window = c.emails.window_days
    return {
        "members": [
            _card(
                "members_total",
                "Members",
                c.members.total,
                p.members.total,
                fmt_int,
                help="Joined by the end of the period.",
            ),
            _card("members_new", "New members", c.members.new, p.members.new, fmt_int),
            _card(
                "members_active",
                "Active members",
                c.members.active,
                p.members.active,
                fmt_int,
                help="With an order in the 12 months to the end of the period.",
            ),
            _card(
                "ambassadors",
                "Ambassadors",
                c.members.ambassadors,
                p.members.ambassadors,
                fmt_int,
                better=None,
                help="Members on an invite-only tier now.",
            ),
        ],
        "conversion": [
            _card(
                "first_buyers",
                "First-time buyers",
                c.conversion.first_buyers,
                p.conversion.first_buyers,
                fmt_int,
                help="Members whose first order ever is in the period.",
            ),
            *[
                _card(
                    f"second_{days}",
                    f"2nd order in {days} days",
                    c.conversion.within[days],
                    p.conversion.within[days],
                    fmt_rate,
                    rate=True,
                    help=f"Of the first-time buyers at least {days} days ago: a second "
                    "order on a later day within that time.",
                )
                for days in kpis.CONVERSION_WINDOWS
            ],
            _card(
                "median_days",
                "Days to 2nd order",
                c.conversion.median_days,
                p.conversion.median_days,
                fmt_dec,
                better="down",
                help="Median days between the first and the second order.",
            ),
        ],
        "sales": [
            _card(
                "revenue",
                "Member revenue",
                c.sales.revenue_eur,
                p.sales.revenue_eur,
                fmt_eur_short,
                help="EUR, net of returns (a return counts on its sale's date).",
            ),
            _card("orders", "Orders", c.sales.orders, p.sales.orders, fmt_int),
            _card(
                "aov",
                "Average order",
                c.sales.aov_eur,
                p.sales.aov_eur,
                lambda v: fmt_eur(v, 2),
                help="Net revenue per order.",
            ),
            _card(
                "frequency",
                "Orders per member / year",
                c.sales.frequency,
                p.sales.frequency,
                lambda v: fmt_dec(v, 2),
                help="Orders in the 12 months to the end, per active member.",
            ),
            _card(
                "repeat",
                "Repeat purchase rate",
                c.sales.repeat,
                p.sales.repeat,
                fmt_rate,
                rate=True,
                help="Active members who ordered on two or more days in those 12 months.",
            ),
            _card(
                "returns",
                "Returns",
                c.sales.returns_eur,
                p.sales.returns_eur,
                fmt_eur,
                better="down",
                help="EUR returned on the period's sales.",
            ),
        ],
        "carats": [
            _card("issued", "Carats issued", c.carats.issued, p.carats.issued, fmt_int),
            _card("redeemed", "Carats redeemed", c.carats.redeemed, p.carats.redeemed, fmt_int),
            _card(
                "expired",
                "Carats expired",
                c.carats.expired,
                p.carats.expired,
                fmt_int,
                better="down",
            ),
            _card(
                "redemption_rate",
                "Redemption rate",
                c.carats.redemption_rate,
                p.carats.redemption_rate,
                fmt_rate,
                rate=True,
                help="Carats redeemed / carats issued in the period.",
            ),
            _card(
                "outstanding",
                "Outstanding carats",
                c.carats.outstanding,
                p.carats.outstanding,
                fmt_int,
                better=None,
                help="On the members' balances at the end of the period.",
            ),
            _card(
                "liability",
                "Liability",
                c.carats.liability_eur,
                p.carats.liability_eur,
                fmt_eur_short,
                better=None,
                help=f"Outstanding carats x €{kpis.carat_value_eur()} per carat.",
            ),
        ],
        "engagement": [
            _card("upgrades", "Upgrades", c.engagement.upgrades, p.engagement.upgrades, fmt_int),
            _card(
                "downgrades",
                "Downgrades",
                c.engagement.downgrades,
                p.engagement.downgrades,
                fmt_int,
                better="down",
            ),
            _card(
                "referred_signups",
                "Referred sign-ups",
                c.engagement.referred_signups,
                p.engagement.referred_signups,
                fmt_int,
            ),
            _card(
                "referred_buyers",
                "Referrals → 1st order",
                c.engagement.referred_first_buyers,
                p.engagement.referred_first_buyers,
                fmt_int,
                help="Referred members whose first order is in the period.",
            ),
            _card(
                "emails_sent",
                "E-mails sent",
                sum(r.sent for r in c.emails.rows),
                sum(r.sent for r in p.emails.rows),
                fmt_int,
                better=None,
            ),
            _card(
                "emails_bought",
                f"Bought ≤ {window} d after a mail",
                Rate(sum(r.bought.numerator for r in c.emails.rows), _sent(c)),
                Rate(sum(r.bought.numerator for r in p.emails.rows), _sent(p)),
                fmt_rate,
                rate=True,
            ),
        ],
        "earlier": earlier_cards(d),
    }


def earlier_cards(d: Dashboard) -> list[Card]:
    """The conversion of the earlier first-time buyers (kpis.earlier_buyers): a figure
    even when the period's own first buyers are too recent for any window."""
    if d.earlier is None:
        return []
    return [
        Card(
            f"earlier_{days}",
            f"2nd order in {days} days (earlier buyers)",
            fmt_rate(d.earlier.within[days]),
            "",
            "",
            "flat",
            f"Of the {fmt_int(d.earlier.within[days].denominator)} first-time buyers of "
            f"{d.earlier_period} at least {days} days ago: a second order on a later day "
            "within that time.",
            d.earlier.within[days].percent,
            None,
        )
        for days in kpis.CONVERSION_WINDOWS
    ]


def _sent(snapshot) -> int:
    return sum(r.sent for r in snapshot.emails.rows)
