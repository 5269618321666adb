"""The hourly rollup run: incremental. The nightly one stays a full build
(loyalty/console/rollup.py); this one recomputes only the members touched since the last
settled mark (loyalty/console/rollup_state.py) and corrects the rollups by the difference.

Every rollup is a sum over members (the first orders are rows per member), and a member's
share depends only on their own sales, returns, ledger, join day, referral and tier. So a
run (one REPEATABLE READ transaction, a few seconds for an hour of sales):

1. finds the touched members: those of the sales, returns, ledger rows, tier changes and
   new members above the mark. A late-dated sale, a return of last year's sale, an
   erasure (its write-off is a ledger row) or a tier move (a tier change row) all touch
   their member, and through them every day and cohort the member counts in;
2. reads those members' sales and ledger again with the full build's own statements
   (`new`), and takes their rows of the state (`old`: what the rollups hold for them);
3. runs the full build's steps on both (activity and cohort changes, first orders,
   sales, members, carats per day) and adds `new - old` to each rollup, key by key; the
   first orders of those members are replaced; their state rows too.

With no state (first run, a crash emptied the unlogged tables), no settled mark, or more
than a quarter of the members touched (a big import), the run is a full build instead.
Deleting a member (the database forbids it while they have sales or carats) is only seen
by the nightly full build.
"""

from __future__ import annotations

import time

from django.db import connection, transaction
from django.utils import timezone

from loyalty.console.models import (
    KpiActivity,
    KpiCohort,
    KpiFirstOrder,
    KpiLedgerDay,
    KpiMembersDay,
    KpiRollupRun,
    KpiSalesDay,
)
from loyalty.console.rollup import (
    _COPIED,
    SESSION,
    _first_orders,
    _ledger_days,
    _mark,
    _members,
    _one_run_at_a_time,
    _read_ledger,
    _read_sales,
    _record,
    _sales,
    _t,
    _Work,
    kpi_rollup_build,
    rollup_supported,
)
from loyalty.console.rollup_activity import LEVELS, _activity_level, _calendar, _ev_table
from loyalty.console.rollup_state import (
    SOURCES,
    STATE,
    mark_start,
    merge,
    state_ready,
    state_table,
)

MAX_SHARE = 0.25  # more members touched than this share: a full build is cheaper
TOUCHED = "kpi_touched"


class _Full(Exception):
    """The incremental run cannot (or should not) be done: build in full."""


def kpi_rollup_refresh(*, full: bool = False) -> KpiRollupRun | None:
    """The hourly job: the rollups brought up to date incrementally (or in full when
    asked, or when an incremental run is not possible)."""
    if not rollup_supported():
        return None
    if full:
        return kpi_rollup_build()
    start = mark_start()
    if connection.in_atomic_block:  # a caller's transaction (the tests)
        try:
            return _incremental(start, outermost=False, mark=_mark())
        except _Full:
            return kpi_rollup_build()
    with _one_run_at_a_time():
        try:
            return _incremental(mark_start(), outermost=True, mark=_mark())
        except _Full:
            pass
    return kpi_rollup_build()


def _incremental(start: dict | None, *, outermost: bool, mark: tuple) -> KpiRollupRun:
    if start is None:
        raise _Full
    started = time.monotonic()
    rows: dict[str, int | float] = {}
    new, old = _Work(shared=False, prefix="kpi_n_"), _Work(shared=False, prefix="kpi_o_")
    with transaction.atomic(), connection.cursor() as cur:
        if outermost:  # one snapshot for every statement below (must come first)
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for statement in SESSION:
            cur.execute(statement.format(scope="LOCAL"))
        as_of = timezone.now()
        if not state_ready(cur):
            raise _Full
        t0 = time.monotonic()
        rows["touched_members"] = _touched(cur, start)
        rows["touched_seconds"] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        _read_sales(cur, new, only=TOUCHED)
        _read_ledger(cur, new, only=TOUCHED)
        _read_state(cur, old)
        rows["read_seconds"] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        for w in (new, old):
            _ledger_days(cur, w)
            _calendar(cur, w)
            _ev_table(cur, w)
            for level in LEVELS:
                _activity_level(cur, w, level)
            _sales(cur, w)
            _members(cur, w)
        _first_orders(cur, new)
        rows["compute_seconds"] = round(time.monotonic() - t0, 2)
        rows.update(_apply(cur, new, old))
        t0 = time.monotonic()
        _replace_state(cur, new)
        rows["state_seconds"] = round(time.monotonic() - t0, 2)
        # Dropped at commit; now too, for a caller's longer transaction (the tests).
        cur.execute(new.drop_all())
        cur.execute(old.drop_all())
        cur.execute(f"DROP TABLE {TOUCHED}")
        return _record(as_of, started, rows, mark)


def _touched(cur, start: dict) -> int:
    """The members of the rows above the mark, into a temporary table; too many: _Full."""
    selects, params = [], []
    for source, (model, select) in SOURCES.items():
        selects.append(select.format(t=_t(model)))
        params.append(start.get(source, 0))
    cur.execute(
        f"CREATE TEMPORARY TABLE {TOUCHED} ON COMMIT DROP AS "  # noqa: S608 - names from code
        f"SELECT DISTINCT member_id FROM ({' UNION ALL '.join(selects)}) x(member_id)",
        params,
    )
    n = cur.rowcount
    cur.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [state_table("m")])
    members = max(cur.fetchone()[0], 0)
    if n > MAX_SHARE * members and n > 1000:
        raise _Full
    cur.execute(f"CREATE UNIQUE INDEX ON {TOUCHED} (member_id)")
    cur.execute(f"ANALYZE {TOUCHED}")
    return n


def _read_state(cur, old: _Work) -> None:
    """What the rollups hold for the touched members: their rows of the state."""
    for name in STATE:
        cur.execute(
            old.as_select(
                getattr(old, name),
                f"SELECT s.* FROM {state_table(name)} s "  # noqa: S608 - names from code
                f"WHERE s.member_id IN (SELECT member_id FROM {TOUCHED})",
            )
        )


def _both(select: str, new: _Work, old: _Work) -> str:
    """The new rows, then the old ones negated (`{s}` is the sign, `{w}` the side)."""
    return f"{select.format(w=new, s='')} UNION ALL {select.format(w=old, s='-')}"


# Each rollup: its key and value columns, one side's rows (`{s}` the sign, `{w}` the
# side) and the condition for a row to stay (a full build writes no row that is all zero).
MERGES = (
    (
        "sales_days",
        KpiSalesDay,
        ("day", "store_id", "channel", "tier_id"),
        ("sales", "orders", "gross_eur", "returns_eur"),
        "SELECT day, store_id, channel, tier_id, {s}sales AS sales, {s}orders AS orders, "
        "{s}gross AS gross_eur, {s}back AS returns_eur FROM {w.sales}",
        "SUM(sales) <> 0",
    ),
    (
        "member_days",
        KpiMembersDay,
        ("day", "tier_id", "referred"),
        ("members",),
        "SELECT joined AS day, tier_id, referred, {s}members AS members FROM {w.members}",
        "SUM(members) <> 0",
    ),
    (
        "ledger_days",
        KpiLedgerDay,
        ("day", "kind", "tier_id"),
        ("credit", "debit"),
        "SELECT day, kind, tier_id, {s}credit AS credit, {s}debit AS debit FROM {w.ledger}",
        "SUM(credit) <> 0 OR SUM(debit) <> 0",
    ),
    (
        "activity",
        KpiActivity,
        ("level", "day", "store_id", "channel", "tier_id"),
        ("active", "repeating"),
        "SELECT level, day, store_id, channel, tier_id, "
        "{s}(CASE g WHEN 'end' THEN -na ELSE na END) AS active, "
        "{s}(CASE g WHEN 'end' THEN -nr ELSE nr END) AS repeating "
        "FROM {w.ev} WHERE g <> 'cohort'",
        "SUM(active) <> 0 OR SUM(repeating) <> 0",
    ),
    (
        "cohorts",
        KpiCohort,
        ("level", "joined_month", "order_month", "day", "store_id", "channel", "tier_id"),
        ("members",),
        "SELECT level, cm AS joined_month, om AS order_month, day, store_id, channel, "
        "tier_id, {s}nc AS members FROM {w.ev} WHERE g = 'cohort'",
        "SUM(members) <> 0",
    ),
)


def _apply(cur, new: _Work, old: _Work) -> dict:
    """Add new - old to every rollup; replace the touched members' first orders."""
    rows = {}
    for name, model, keys, values, select, keep in MERGES:
        t0 = time.monotonic()
        rows[name] = merge(cur, model, keys, values, _both(select, new, old), keep)
        rows[f"merge_{name}_seconds"] = round(time.monotonic() - t0, 2)
    t0 = time.monotonic()
    first = _t(KpiFirstOrder)
    cur.execute(
        f"DELETE FROM {first} WHERE member_id IN (SELECT member_id FROM {TOUCHED})"  # noqa: S608
    )
    columns = next(c for model, c, _ in _COPIED if model is KpiFirstOrder)
    cur.execute(f"INSERT INTO {first} ({columns}) SELECT * FROM {new.first}")  # noqa: S608
    rows["first_orders"] = cur.rowcount
    rows["merge_first_orders_seconds"] = round(time.monotonic() - t0, 2)
    return rows


def _replace_state(cur, new: _Work) -> None:
    for name in STATE:
        table = state_table(name)
        cur.execute(
            f"DELETE FROM {table} WHERE member_id IN (SELECT member_id FROM {TOUCHED})"  # noqa: S608
        )
        cur.execute(f"INSERT INTO {table} SELECT * FROM {getattr(new, name)}")  # noqa: S608
