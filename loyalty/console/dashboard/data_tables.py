"""The tables, shown as HTML and downloaded as CSV (a declarative table of tables);
cohort rows and their heat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from loyalty.console import kpis
from loyalty.console.kpis import Dashboard, Rate

from .number_cards import Card, _change, fmt_eur, fmt_int, fmt_rate

# --- tables (HTML and CSV) ----------------------------------------------------------


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list]  # display strings
    csv_rows: list[list]  # raw values
    note: str = ""
    text_columns: int = 1  # the first columns are labels; the rest are numbers


def _pct(r: Rate | None):
    return "" if r is None or r.percent is None else r.percent


def _by_key(slices) -> dict:
    return {s.key: s for s in slices}


def _compare(title, key, cur, prev, label_header) -> Table:
    now, before = _by_key(cur), _by_key(prev)
    keys = [s.key for s in cur] + [s.key for s in prev if s.key not in now]
    rows, raw = [], []
    for k in keys:
        s = now.get(k) or before[k]
        a = now[k].revenue_eur if k in now else Decimal("0.00")
        b = before[k].revenue_eur if k in before else Decimal("0.00")
        change, _ = _change(a, b)
        rows.append([s.label, fmt_eur(a), fmt_eur(b), change])
        raw.append([s.label, a, b])
    return Table(
        key,
        title,
        [label_header, "Revenue (EUR)", "Previous period", "Change"],
        rows,
        raw,
    )


def tables(d: Dashboard, card_groups: dict[str, list[Card]]) -> dict[str, Table]:
    c, p = d.current, d.previous
    out: dict[str, Table] = {}
    all_cards = [card for group in card_groups.values() for card in group]
    out["summary"] = Table(
        "summary",
        "All KPIs",
        ["KPI", "Period", "Previous period", "Change"],
        [[k.label, k.value, k.previous, k.change] for k in all_cards],
        [[k.label, _raw(k.raw), _raw(k.raw_previous)] for k in all_cards],
    )
    out["members_by_tier"] = Table(
        "members_by_tier",
        "Members by tier (now)",
        ["Tier", "Members"],
        [[t.name, fmt_int(t.members)] for t in c.members.by_tier],
        [[t.name, t.members] for t in c.members.by_tier],
    )
    out["revenue_by_store"] = _compare(
        "Revenue by store", "revenue_by_store", c.sales.by_store, p.sales.by_store, "Store"
    )
    out["revenue_by_tier"] = _compare(
        "Revenue by tier", "revenue_by_tier", c.sales.by_tier, p.sales.by_tier, "Tier (now)"
    )
    out["revenue_by_channel"] = _compare(
        "Revenue by channel",
        "revenue_by_channel",
        c.sales.by_channel,
        p.sales.by_channel,
        "Channel",
    )
    out["revenue_trend"] = Table(
        "revenue_trend",
        "Revenue over time",
        ["Period starting", "Revenue (EUR)", "Previous period"],
        [
            [f"{day:%d %b %Y}", fmt_eur(v), fmt_eur(b)]
            for (day, v), (_, b) in zip(c.sales.trend, _aligned(c, p), strict=True)
        ],
        [
            [day.isoformat(), v, b]
            for (day, v), (_, b) in zip(c.sales.trend, _aligned(c, p), strict=True)
        ],
    )
    out["conversion"] = Table(
        "conversion",
        "Second-purchase conversion",
        ["Within", "Converted", "Of", "Rate", "Previous"],
        [
            [
                f"{days} days",
                fmt_int(c.conversion.within[days].numerator),
                fmt_int(c.conversion.within[days].denominator),
                fmt_rate(c.conversion.within[days]),
                fmt_rate(p.conversion.within[days]),
            ]
            for days in kpis.CONVERSION_WINDOWS
        ],
        [
            [
                days,
                c.conversion.within[days].numerator,
                c.conversion.within[days].denominator,
                _pct(c.conversion.within[days]),
                _pct(p.conversion.within[days]),
            ]
            for days in kpis.CONVERSION_WINDOWS
        ],
        note="Of: first-time buyers at least that many days ago (a window counts only "
        "those). Previous: the rate of the previous period.",
    )
    out["top_rewards"] = Table(
        "top_rewards",
        "Top rewards",
        ["Reward", "Vouchers", "Carats"],
        [[r.name, fmt_int(r.vouchers), fmt_int(r.carats)] for r in c.carats.top_rewards],
        [[r.name, r.vouchers, r.carats] for r in c.carats.top_rewards],
    )
    out["carats"] = Table(
        "carats",
        "Carats",
        ["", "Period", "Previous period"],
        [[label, fmt_int(a), fmt_int(b)] for label, a, b in _carat_rows(c.carats, p.carats)],
        list(_carat_rows(c.carats, p.carats)),
    )
    out["tier_moves"] = Table(
        "tier_moves",
        "Tier movement",
        ["Move", "From", "To", "Members"],
        [[m.reason, m.from_tier, m.to_tier, fmt_int(m.members)] for m in c.engagement.moves],
        [[m.reason, m.from_tier, m.to_tier, m.members] for m in c.engagement.moves],
        text_columns=3,
    )
    out["clubs"] = Table(
        "clubs",
        "Clubs",
        ["Club", "Joined or renewed", "Carats paid", "Members at the end"],
        [
            [r.name, fmt_int(r.joined), fmt_int(r.carats), fmt_int(r.active)]
            for r in c.engagement.clubs
        ],
        [[r.name, r.joined, r.carats, r.active] for r in c.engagement.clubs],
    )
    e = c.emails
    headers = ["Trigger", "Sent"]
    if e.tracks_opens:
        headers.append("Opened")
    if e.tracks_clicks:
        headers.append("Clicked")
    if e.tracks_unsubscribes:
        headers.append("Unsubscribed")
    headers += [f"Bought within {e.window_days} d", "Not sent"]
    rows, raw = [], []
    for r in e.rows:
        tracked = [x for x in (r.opened, r.clicked, r.unsubscribed) if x is not None]
        rows.append(
            [
                r.trigger.replace("_", " "),
                fmt_int(r.sent),
                *[fmt_rate(x) for x in tracked],
                fmt_rate(r.bought),
                fmt_int(r.not_sent),
            ]
        )
        raw.append([r.trigger, r.sent, *[_pct(x) for x in tracked], _pct(r.bought), r.not_sent])
    out["emails"] = Table(
        "emails",
        "E-mail results per trigger",
        headers,
        rows,
        raw,
        note="Mails sent in the period; not sent = skipped (no consent), weekly cap, "
        "cancelled or failed.",
    )
    months = d.cohorts.months
    out["cohorts"] = Table(
        "cohorts",
        "Cohort retention",
        ["Joined", "Members", *[f"M+{k}" for k in range(months)]],
        [
            [f"{r.month:%b %Y}", fmt_int(r.members)]
            + [_cohort_cell(r.rate(k)) for k in range(months)]
            for r in d.cohorts.rows
        ],
        [
            [r.month.isoformat(), r.members]
            + ["" if r.rate(k) is None else r.rate(k) for k in range(months)]
            for r in d.cohorts.rows
        ],
        note="Share of the members who joined in a month who placed an order k months later.",
    )
    return out


def _cohort_cell(rate: Decimal | None) -> str:
    return "" if rate is None else f"{rate.quantize(Decimal(1), ROUND_HALF_UP)} %"


def cohort_rows(d: Dashboard) -> list[dict]:
    """The heat-map rows: a shade per cell; months not reached yet are hatched."""
    rows = []
    for r in d.cohorts.rows:
        cells = []
        for k in range(d.cohorts.months):
            if r.buyers[k] is None:
                cells.append({"text": "", "css": "future"})
            elif not r.members:
                cells.append({"text": "", "css": ""})
            else:
                cells.append({"text": _cohort_cell(r.rate(k)), "css": f"heat-{heat(r.rate(k))}"})
        rows.append({"month": r.month, "members": r.members, "cells": cells})
    return rows


def _raw(value):
    return "" if value is None else value


def _carat_rows(c, p):
    yield "Issued", c.issued, p.issued
    yield "Redeemed", c.redeemed, p.redeemed
    yield "Expired", c.expired, p.expired
    yield "Taken back by returns", c.returned, p.returned
    yield "Adjusted down", c.adjusted_out, p.adjusted_out
    yield "Outstanding at the end", c.outstanding, p.outstanding


def _aligned(c, p) -> list[tuple[date, Decimal]]:
    """The previous period's trend, bucket by bucket beside the current one."""
    prev = list(p.sales.trend)
    n = len(c.sales.trend)
    prev = prev[-n:] if len(prev) >= n else [(None, Decimal("0.00"))] * (n - len(prev)) + prev
    return prev


def heat(rate: Decimal | None) -> int:
    """0-5: how dark a cohort cell is (0 for none, 5 for 50 % and more)."""
    if not rate:
        return 0
    return max(1, min(5, int(rate // 10)))
