"""The charts' data (Chart.js)."""

from __future__ import annotations

from loyalty.console import kpis
from loyalty.console.kpis import Dashboard, Rate

from .data_tables import _aligned, _by_key

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
