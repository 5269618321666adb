"""The dashboard's predictions section: read from the last nightly run's row (its
aggregates were computed with the scores): two small reads, kept in the cache with the
start page's figures (the warm job refreshes both; the data changes once a night)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache

from members.predictions.selectors import latest_realised, latest_run

# P(active) below this is "drifting away" on the dashboard (the histogram's first buckets).
LAPSING_BELOW = 0.3


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    percent: float  # of the scored members, for the bar's width


CACHE_KEY = "carat:dashboard:predictions:v1"
_MISSING = object()


def prediction_section(*, refresh: bool = False, ttl: int = 20 * 60) -> dict | None:
    """The section as the page shows it; None before the first nightly run."""
    if not refresh:
        kept = cache.get(CACHE_KEY, _MISSING)
        if kept is not _MISSING:
            return kept
    section = _section()
    cache.set(CACHE_KEY, section, ttl)
    return section


def _section() -> dict | None:
    run = latest_run()
    if run is None:
        return None
    hist = list(run.p_alive_histogram or [])
    total = sum(hist) or 1
    bars = [
        Bar(label=f"{i * 10}\u2013{(i + 1) * 10} %", count=n, percent=round(100 * n / total, 1))
        for i, n in enumerate(hist)
    ]
    lapsing = sum(hist[: int(LAPSING_BELOW * 10)])
    realised = latest_realised()
    params = run.params or {}
    return {
        "run": run,
        "bars": bars,
        "lapsing": lapsing,
        "lapsing_percent": round(100 * lapsing / total),
        "realised": realised,
        "bgnbd": params.get("bgnbd") or {},
        "gamma_gamma": params.get("gamma_gamma"),
        "seconds": run.seconds or {},
        "mean_clv": run.clv_total_eur / run.members_scored if run.members_scored else 0,
        "discount": params.get("annual_discount") or 0,
    }
