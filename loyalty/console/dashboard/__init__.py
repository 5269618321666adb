"""The console's start page: the KPI dashboard, for a period compared with the one before,
filtered by store, channel and tier, with charts and tables (each table exports as CSV).

Wiring: `install(admin.site)` (called from loyalty/console/admin.py) replaces the site's index
view. Staff who may see members and sales get the dashboard; other staff keep the
ordinary app list. The URL is the admin's own start page, so no URL is added, and the
admin's login, staff check, CSRF and never-cache wrapping stay as they are.

The numbers come from loyalty.console.kpis (set-based SQL), read from the hourly rollups of
loyalty.console.rollup while they are recent (the page says as of when), else live. A computed
dashboard is cached for CACHE_SECONDS per period and filters; "Refresh" recomputes it."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import wraps

from django import forms
from django.contrib.admin import AdminSite
from django.core.cache import cache
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext

from loyalty.console import kpis
from loyalty.console.kpis import Dashboard, Filters, Period, Rate
from loyalty.kernel import csvexport
from loyalty.kernel.widgets import IsoDateInput
from pos.models import Channel, Store
from tiers.models import Tier

CACHE_SECONDS = 10 * 60
NONE = "\u2013"  # an en dash: no value (not enough data yet)
REQUIRED_PERMISSIONS = ("members.view_member", "pos.view_purchase")
MAX_DAYS = 3 * 366
EARLIEST = date(2000, 1, 1)  # a custom period starts on or after this day

PRESETS = [
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("12m", "Last 12 months"),
    ("month", "This month"),
    ("year", "This year"),
    ("custom", "Custom dates"),
]


def can_view_dashboard(user) -> bool:
    return user.is_active and user.is_staff and user.has_perms(REQUIRED_PERMISSIONS)


def preset_period(preset: str, today: date) -> Period:
    if preset == "90d":
        return Period(today - timedelta(days=89), today)
    if preset == "12m":
        return Period(today - timedelta(days=364), today)
    if preset == "month":
        return Period(today.replace(day=1), today)
    if preset == "year":
        return Period(today.replace(month=1, day=1), today)
    return Period(today - timedelta(days=29), today)


class DashboardForm(forms.Form):
    period = forms.ChoiceField(choices=PRESETS, required=False)
    start = forms.DateField(required=False, widget=IsoDateInput)
    end = forms.DateField(required=False, widget=IsoDateInput)
    store = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(required=False, choices=[("", "All channels"), *Channel.choices])
    tier = forms.ChoiceField(required=False)

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.stores = {s.code: s for s in Store.objects.order_by("name")}
        self.tiers = {t.code: t for t in Tier.objects.order_by("rank")}
        self.fields["store"].choices = [("", "All stores")] + [
            (s.code, s.name) for s in self.stores.values()
        ]
        self.fields["tier"].choices = [("", "All tiers")] + [
            (t.code, t.name) for t in self.tiers.values()
        ]

    def clean(self):
        data = super().clean()
        if data.get("period") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError("Custom dates need a start and an end.")
            if end < start:
                raise forms.ValidationError("The end date is before the start date.")
            if (end - start).days >= MAX_DAYS:
                raise forms.ValidationError("Choose at most three years.")
            latest = self.today + timedelta(days=366)
            if start < EARLIEST or end > latest:
                # Far dates would overflow the date arithmetic (year 1, 9999): refused.
                raise forms.ValidationError(
                    gettext("Choose dates from %(earliest)s to %(latest)s.")
                    % {"earliest": date_format(EARLIEST), "latest": date_format(latest)}
                )
        return data

    def selection(self) -> tuple[Period, Filters, dict]:
        """The period, the filters and the labels to show (defaults if the form is
        invalid: the last 30 days, everything)."""
        data = self.cleaned_data if self.is_valid() else {}
        preset = data.get("period") or "30d"
        if preset == "custom" and data.get("start"):
            period = Period(data["start"], data["end"])
        else:
            period = preset_period(preset, self.today)
        store = self.stores.get(data.get("store") or "")
        tier = self.tiers.get(data.get("tier") or "")
        channel = data.get("channel") or ""
        filters = Filters(
            store_id=store.pk if store else None,
            channel=channel,
            tier_id=tier.pk if tier else None,
        )
        labels = {
            "store": store.name if store else "",
            "channel": dict(Channel.choices).get(channel, ""),
            "tier": tier.name if tier else "",
        }
        return period, filters, labels


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
    }


def _sent(snapshot) -> int:
    return sum(r.sent for r in snapshot.emails.rows)


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


# --- charts -------------------------------------------------------------------------


def charts(d: Dashboard) -> dict:
    """What the charts draw; plain numbers and labels (amounts as strings)."""
    c, p = d.current, d.previous
    now_store, before_store = _by_key(c.sales.by_store), _by_key(p.sales.by_store)
    store_keys = [s.key for s in c.sales.by_store] + [
        s.key for s in p.sales.by_store if s.key not in now_store
    ]
    now_tier, before_tier = _by_key(c.sales.by_tier), _by_key(p.sales.by_tier)
    tier_rows = [t for t in c.members.by_tier]
    grain = kpis.trend_grain(c.period)
    label = {"day": "%d %b", "week": "wk %d %b", "month": "%b %Y"}[grain]
    return {
        "periodLabel": str(c.period),
        "previousLabel": str(p.period),
        "trend": {
            "labels": [b.strftime(label) for b, _ in c.sales.trend],
            "current": [str(v) for _, v in c.sales.trend],
            "previous": [str(v) for _, v in _aligned(c, p)],
        },
        "stores": {
            "labels": [(now_store.get(k) or before_store[k]).label for k in store_keys],
            "current": [
                str(now_store[k].revenue_eur) if k in now_store else "0" for k in store_keys
            ],
            "previous": [
                str(before_store[k].revenue_eur) if k in before_store else "0" for k in store_keys
            ],
        },
        "tiers": {
            "labels": [t.name for t in tier_rows],
            "colors": [t.color for t in tier_rows],
            "members": [t.members for t in tier_rows],
            "current": [
                str(now_tier[t.code].revenue_eur) if t.code in now_tier else "0" for t in tier_rows
            ],
            "previous": [
                str(before_tier[t.code].revenue_eur) if t.code in before_tier else "0"
                for t in tier_rows
            ],
        },
        "conversion": {
            "labels": [f"{days} days" for days in kpis.CONVERSION_WINDOWS],
            "current": [_chart_pct(c.conversion.within[days]) for days in kpis.CONVERSION_WINDOWS],
            "previous": [_chart_pct(p.conversion.within[days]) for days in kpis.CONVERSION_WINDOWS],
        },
        "carats": {
            "labels": ["Issued", "Redeemed", "Expired", "Returned"],
            "current": [c.carats.issued, c.carats.redeemed, c.carats.expired, c.carats.returned],
            "previous": [p.carats.issued, p.carats.redeemed, p.carats.expired, p.carats.returned],
        },
    }


def _chart_pct(r: Rate) -> str | None:
    return None if r.percent is None else str(r.percent)


# --- the view -----------------------------------------------------------------------


def _cache_key(period: Period, filters: Filters) -> str:
    raw = f"{period.start}:{period.end}:{filters.store_id}:{filters.channel}:{filters.tier_id}"
    return "carat:dashboard:v2:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def computed(
    period: Period, filters: Filters, *, refresh: bool = False, ttl: int = CACHE_SECONDS
) -> Dashboard:
    key = _cache_key(period, filters)
    result = None if refresh else cache.get(key)
    if result is None:
        result = kpis.dashboard(period, filters)
        cache.set(key, result, ttl)
    return result


def warm_cache(presets: tuple[str, ...] = ("30d",), *, ttl: int = 20 * 60) -> dict[str, float]:
    """Compute and keep the start page's views (no filters) so nobody waits for them:
    for a periodic job (e.g. every 15 minutes with the default 20-minute lifetime).
    Returns the seconds each took."""
    today = timezone.localdate()
    took = {}
    for preset in presets:
        started = time.monotonic()
        computed(preset_period(preset, today), Filters(), refresh=True, ttl=ttl)
        took[preset] = round(time.monotonic() - started, 2)
    return took


def csv_response(table: Table, period: Period) -> HttpResponse:
    headers = list(table.headers)
    if table.csv_rows and len(table.csv_rows[0]) < len(headers):
        headers = headers[: len(table.csv_rows[0])]
    return csvexport.csv_response(
        f"carat-{table.key}-{period.start}-{period.end}.csv", headers, table.csv_rows, stream=False
    )


def dashboard_view(request, site: AdminSite, extra_context=None):
    form = DashboardForm(request.GET or None, today=timezone.localdate())
    period, filters, labels = form.selection()
    data = computed(period, filters, refresh=request.GET.get("refresh") == "1")
    card_groups = cards(data)
    all_tables = tables(data, card_groups)
    export = request.GET.get("export")
    if export:
        if export not in all_tables:
            return HttpResponse("Unknown table.", status=404, content_type="text/plain")
        return csv_response(all_tables[export], period)
    query = request.GET.copy()
    for k in ("export", "refresh"):
        query.pop(k, None)
    context = {
        **site.each_context(request),
        "title": "Dashboard",
        "subtitle": None,
        "form": form,
        "period": period,
        "previous": period.previous(),
        "filter_labels": labels,
        "filters": filters,
        "dashboard": data,
        "cards": card_groups,
        "tables": all_tables,
        "cohort_rows": cohort_rows(data),
        "conversion_waiting": all(r.value is None for r in data.current.conversion.within.values()),
        "charts": charts(data),
        "query": (query.urlencode() + "&") if query else "",
        "cache_minutes": CACHE_SECONDS // 60,
        **(extra_context or {}),
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/dashboard.html", context)


def install(site: AdminSite) -> None:
    """Make the dashboard the site's start page (for staff allowed to see sales)."""
    app_index = site.index

    @wraps(app_index)
    def index(request, extra_context=None):
        if not can_view_dashboard(request.user):
            return app_index(request, extra_context)
        return dashboard_view(request, site, extra_context)

    site.index = index
