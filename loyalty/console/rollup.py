"""The dashboard's rollups: the service that rebuilds them (the only writer).

The console's KPIs (loyalty.console.kpis) are set-based queries over the sales and the ledger.
At a million members those scans take seconds each, so a job condenses the raw tables
into small facts (loyalty.console.models.Kpi*): sales per day, carats per day, members per join
day, the changes of the 12-month activity per day, each buyer's first and second order,
and the monthly cohorts. The dashboard then answers any period and filter from them in
milliseconds, with the same definitions as the live queries (tests compare both).

Every rollup counts the same committed state (`KpiRollupRun.as_of`), and readers keep
seeing the previous run until the new one is published in one short transaction.
Everything is INSERT ... SELECT over work tables: no row passes through Python. A run
takes three phases on `settings.CARAT_KPI_ROLLUP_WORKERS` connections (2 by default):

1. *read*: the sales (with their returns and members) and the ledger are condensed into
   unlogged work tables, on two connections that share one exported snapshot
   (REPEATABLE READ, `pg_export_snapshot` / `SET TRANSACTION SNAPSHOT`);
2. *compute*: the four activity levels, the first orders, the sales, members and cohort
   cells, from the committed work tables, shared out over the connections;
3. *publish*: one transaction replaces the rollups with the work tables' rows.

One run at a time (a PostgreSQL advisory lock); a second one waits, then rebuilds. A run
that fails leaves the previous rollups as they were, and its work tables are dropped
(also at the start of the next run, after a crash). Called inside a transaction (the
tests), or with one worker, the same statements run serially in one REPEATABLE READ
transaction over temporary tables. PostgreSQL only: on SQLite (`make run`'s small demo)
there is no rollup and the dashboard stays live.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import IsolationLevel, sql

from loyalty.console.models import (
    KpiActivity,
    KpiCohort,
    KpiFirstOrder,
    KpiLedgerDay,
    KpiMembersDay,
    KpiRollupRun,
    KpiSalesDay,
)
from loyalty.console.rollup_activity import LEVELS, _activity_level, _calendar, _ev_table
from loyalty.console.rollup_state import (
    STATE,
    mark_read,
    mark_save,
    mark_settle,
    state_index,
    state_keep,
)
from loyalty.console.rollup_state import (
    exec_count as _exec,
)
from members.models import LedgerEntry, Member
from pos.models import Purchase, Return
from tiers.models import MemberTier

ROLLUPS = (KpiSalesDay, KpiMembersDay, KpiLedgerDay, KpiActivity, KpiCohort, KpiFirstOrder)
# Serialises runs (any bigint unique to this job): the hourly job and a manual run.
RUN_LOCK = 7_100_424_915
# Big in-memory sorts and hashes for this job only; no JIT (compiling costs more than it
# saves on these one-off statements).
SESSION = ("SET {scope} work_mem = '512MB'", "SET {scope} jit = off")


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def rollup_supported() -> bool:
    return connection.vendor == "postgresql"


def rollup_latest(max_age: timedelta | None = None) -> KpiRollupRun | None:
    """The latest run if it is recent enough for the dashboard to read, else None."""
    if not rollup_supported():
        return None
    if max_age is None:
        max_age = timedelta(seconds=getattr(settings, "CARAT_KPI_ROLLUP_MAX_AGE", 3 * 3600))
    run = KpiRollupRun.objects.order_by("-as_of").first()
    if run is None or run.as_of < timezone.now() - max_age:
        return None
    return run


class _Work:
    """The names of a run's work tables and how they are created: temporary (dropped at
    commit) for a serial run, unlogged (visible to the other connections once committed,
    not written to the WAL) for a parallel one."""

    TABLES = ("ret", "m", "od", "cal", "ev", "lm", "ledger", "sales", "members", "first")

    def __init__(self, *, shared: bool, prefix: str = ""):
        self.shared = shared
        self.prefix = prefix or ("kpi_w_" if shared else "kpi_")
        for name in self.TABLES:
            setattr(self, name, self.prefix + name)

    def create(self, name: str, columns: str = "") -> str:
        """CREATE TABLE up to AS (for CREATE TABLE ... AS), or with `columns`."""
        if self.shared:
            return f"CREATE UNLOGGED TABLE {name} {columns}"
        return f"CREATE TEMPORARY TABLE {name} {columns} ON COMMIT DROP"

    def as_select(self, name: str, select: str) -> str:
        return f"{self.create(name)} AS {select}"

    def drop_all(self) -> str:
        return f"DROP TABLE IF EXISTS {', '.join(self.prefix + n for n in self.TABLES)}"


def kpi_rollup_build(*, workers: int | None = None) -> KpiRollupRun | None:
    """Rebuild every rollup from the sales, returns, ledger, members and tiers, on
    `workers` connections (default settings.CARAT_KPI_ROLLUP_WORKERS)."""
    if not rollup_supported():
        return None
    if workers is None:
        workers = getattr(settings, "CARAT_KPI_ROLLUP_WORKERS", 2)
    if connection.in_atomic_block:  # the caller's transaction: its snapshot, one connection
        return _build_serial(outermost=False, mark=_mark())
    with _one_run_at_a_time():
        mark = _mark()  # before the snapshot (see rollup_state)
        run = (
            _build_serial(outermost=True, mark=mark)
            if workers < 2
            else _build_parallel(workers, mark)
        )
    # Committed: reclaim the previous run's rows, refresh the statistics.
    with connection.cursor() as cur:
        cur.execute(f"VACUUM (ANALYZE) {', '.join(_t(m) for m in ROLLUPS)}")
    return run


@contextmanager
def _one_run_at_a_time():
    """A session advisory lock around a run, taken outside its transactions (a snapshot
    taken while waiting for it would miss what committed meanwhile)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", [RUN_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [RUN_LOCK])


def _mark() -> tuple:
    """(clock, highest ids, settled): read and settled before a run's snapshot."""
    taken_at, hi = mark_read()
    return taken_at, hi, mark_settle(taken_at)


def _timed(rows: dict, name: str, step, *args) -> None:
    t0 = time.monotonic()
    rows.update(step(*args) or {})
    rows[f"{name}_seconds"] = round(time.monotonic() - t0, 2)


def _build_serial(*, outermost: bool, mark: tuple) -> KpiRollupRun:
    started = time.monotonic()
    rows: dict[str, int | float] = {}
    w = _Work(shared=False)
    with transaction.atomic(), connection.cursor() as cur:
        if outermost:  # one snapshot for every statement below (must come first)
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for statement in SESSION:
            cur.execute(statement.format(scope="LOCAL"))
        # The snapshot starts with the next statement: it holds at least what was
        # committed by now.
        as_of: datetime = timezone.now()
        _timed(rows, "prepare", _read_sales, cur, w)
        _timed(rows, "ledger", _read_ledger, cur, w)
        _timed(rows, "ledger_days", _ledger_days, cur, w)
        _calendar(cur, w)
        _ev_table(cur, w)
        for level in LEVELS:
            _timed(rows, f"activity_{level or 'all'}", _activity_level, cur, w, level)
        _timed(rows, "first_orders", _first_orders, cur, w)
        _timed(rows, "publish", _publish, cur, w)
        # Dropped at commit; now too, for a caller's longer transaction (the tests).
        cur.execute(w.drop_all())
        return _record(as_of, started, rows, mark)


def _build_parallel(workers: int, mark: tuple) -> KpiRollupRun:
    started = time.monotonic()
    rows: dict[str, int | float] = {"workers": workers}
    w = _Work(shared=True)
    conns = []
    try:
        with connection.cursor() as cur:
            cur.execute(w.drop_all())  # a crashed run's
        # 1. read: one snapshot on two connections. It starts with the export: it holds
        # at least what was committed by `as_of`.
        as_of: datetime = timezone.now()
        conns.append(_connect(IsolationLevel.REPEATABLE_READ))
        snapshot = conns[0].execute("SELECT pg_export_snapshot()").fetchone()[0]
        conns.append(_connect(IsolationLevel.REPEATABLE_READ))
        conns[1].execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        conns += [_connect() for _ in range(workers - 2)]
        reader, other = conns[0], conns[1]
        for conn in conns:  # the readers in their transactions, the others before theirs
            for statement in SESSION:
                conn.execute(statement.format(scope="SESSION"))
        _all_done(
            2,
            [
                (_on, reader, rows, "prepare", _read_sales, w),
                (_on, other, rows, "ledger", _read_ledger, w),
            ],
        )
        for conn in conns:
            conn.commit()
            conn.autocommit = True
        # 2. compute, from the committed work tables: the biggest steps first.
        with reader.cursor() as cur:
            _calendar(cur, w)
            _ev_table(cur, w)
        steps = [(f"activity_{lv or 'all'}", _activity_level, w, lv) for lv in ("c", "", "s", "sc")]
        steps += [
            ("first_orders", _first_orders, w),
            ("sales", _sales, w),
            ("members", _members, w),
            ("ledger_days", _ledger_days, w),
        ]
        steps += [(f"index_{n}", _index, getattr(w, n)) for n in STATE]  # the next state
        free = list(conns)
        _all_done(len(conns), [(_on_free, free, rows, *step) for step in steps])
        # 3. publish, in one transaction.
        with transaction.atomic(), connection.cursor() as cur:
            for statement in SESSION:
                cur.execute(statement.format(scope="LOCAL"))
            _timed(rows, "publish", _publish, cur, w)
            return _record(as_of, started, rows, mark)
    finally:
        for conn in conns:
            conn.close()
        if not connection.in_atomic_block:
            with connection.cursor() as cur:
                cur.execute(w.drop_all())


def _all_done(threads: int, calls: list[tuple]) -> None:
    """Run the calls on `threads` threads; the first failure cancels those not started
    and is raised once the running ones are done."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(*call) for call in calls]
        try:
            for f in futures:
                f.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _connect(isolation: IsolationLevel | None = None) -> psycopg.Connection:
    """A connection of its own to the default database, with Django's settings."""
    conn = psycopg.connect(**connection.get_connection_params())
    conn.isolation_level = isolation
    return conn


def _on(conn, rows: dict, name: str, step, *args) -> None:
    with conn.cursor() as cur:
        _timed(rows, name, step, cur, *args)


def _on_free(free: list, rows: dict, name: str, step, *args) -> None:
    # A pool thread takes a free connection for the step and gives it back.
    conn = free.pop()
    try:
        _on(conn, rows, name, step, *args)
    finally:
        free.append(conn)


def _index(cur, table: str) -> None:
    state_index(cur, table)


def _record(as_of: datetime, started: float, rows: dict, mark: tuple) -> KpiRollupRun:
    mark_save(*mark)
    run = KpiRollupRun.objects.create(
        as_of=as_of, seconds=round(time.monotonic() - started, 2), rows=rows
    )
    KpiRollupRun.objects.exclude(pk=run.pk).delete()
    return run


def _of(only: str | None, column: str) -> str:
    """The members a run reads: all, or those in the table `only` (incremental runs)."""
    return f"WHERE {column} IN (SELECT member_id FROM {only})" if only else ""  # noqa: S608


def _read_sales(cur, w: _Work, only: str | None = None) -> dict:
    """The work tables of the sales: returns per sale; each member's join day and month,
    tier and referral; and `od`, the sales per member, local day, store and channel (one
    pass over the sales) with how many of them are orders (not fully returned) and the
    moment of the first order. `only`: a table of the member ids to read (else all)."""
    zone = settings.TIME_ZONE
    _exec(
        cur,
        w.as_select(
            w.ret,
            f"""SELECT r.purchase_id, SUM(r.amount) AS amount, SUM(r.amount_eur) AS eur
                FROM {_t(Return)} r
                {f"JOIN {_t(Purchase)} p ON p.id = r.purchase_id" if only else ""}
                {_of(only, "p.member_id")}
                GROUP BY r.purchase_id""",  # noqa: S608 - names from models
        ),
    )
    cur.execute(f"CREATE UNIQUE INDEX ON {w.ret} (purchase_id)")
    _exec(
        cur,
        w.as_select(
            w.m,
            f"""SELECT m.id AS member_id, j.joined, date_trunc('month', j.joined)::date AS jm,
                       m.referred_by_id IS NOT NULL AS referred, mt.tier_id
                FROM {_t(Member)} m
                CROSS JOIN LATERAL (SELECT (m.joined_at AT TIME ZONE %s)::date AS joined) j
                LEFT JOIN {_t(MemberTier)} mt ON mt.member_id = m.id
                {_of(only, "m.id")}""",  # noqa: S608
        ),
        [zone],
    )
    cur.execute(f"ANALYZE {w.m}")
    # The sales are grouped on their own columns first, then joined to their member's
    # (one row each): sorting and comparing four keys instead of eight took about a
    # quarter off this statement at a million members.
    n = _exec(
        cur,
        w.as_select(
            w.od,
            f"""SELECT s.member_id, m.tier_id, m.joined, m.jm, m.referred, s.day, s.store_id,
                       s.channel, s.sales, s.orders, s.gross, s.back, s.first_at
                FROM (
                    SELECT p.member_id, (p.occurred_at AT TIME ZONE %s)::date AS day,
                           p.store_id, p.channel,
                           COUNT(*) AS sales,
                           COUNT(*) FILTER (WHERE r.purchase_id IS NULL OR r.amount < p.amount)
                               AS orders,
                           SUM(p.amount_eur) AS gross, COALESCE(SUM(r.eur), 0) AS back,
                           MIN(p.occurred_at) FILTER (WHERE r.purchase_id IS NULL
                                                      OR r.amount < p.amount) AS first_at
                    FROM {_t(Purchase)} p
                    LEFT JOIN {w.ret} r ON r.purchase_id = p.id
                    {_of(only, "p.member_id")}
                    GROUP BY 1, 2, 3, 4
                ) s
                JOIN {w.m} m ON m.member_id = s.member_id""",  # noqa: S608
        ),
        [zone],
    )
    cur.execute(f"ANALYZE {w.od}")
    return {"sales_member_days": n}


def _read_ledger(cur, w: _Work, only: str | None = None) -> dict:
    """Carats per member, local day (of `created_at`) and kind: `lm`, kept between runs
    (the state of loyalty/console/rollup_state.py); `_ledger_days` adds up its days."""
    n = _exec(
        cur,
        w.as_select(
            w.lm,
            f"""SELECT l.member_id, (l.created_at AT TIME ZONE %s)::date AS day, l.kind,
                       COALESCE(SUM(l.carats) FILTER (WHERE l.carats > 0), 0) AS credit,
                       COALESCE(SUM(l.carats) FILTER (WHERE l.carats < 0), 0) AS debit
                FROM {_t(LedgerEntry)} l {_of(only, "l.member_id")}
                GROUP BY 1, 2, 3""",  # noqa: S608
        ),
        [settings.TIME_ZONE],
    )
    return {"ledger_member_days": n}


def _ledger_days(cur, w: _Work) -> dict:
    """Carats per local day, kind and the member's tier (from `m`: the same snapshot)."""
    n = _exec(
        cur,
        w.as_select(
            w.ledger,
            f"""SELECT l.day, l.kind, m.tier_id, SUM(l.credit) AS credit,
                       SUM(l.debit) AS debit
                FROM {w.lm} l JOIN {w.m} m ON m.member_id = l.member_id
                GROUP BY 1, 2, 3""",  # noqa: S608
        ),
    )
    return {"ledger_days": n}


def _sales(cur, w: _Work) -> dict:
    n = _exec(
        cur,
        w.as_select(
            w.sales,
            f"""SELECT day, store_id, channel, tier_id, SUM(sales) AS sales,
                       SUM(orders) AS orders, SUM(gross) AS gross, SUM(back) AS back
                FROM {w.od} GROUP BY 1, 2, 3, 4 ORDER BY 1""",  # noqa: S608
        ),
    )
    return {"sales_days": n}


def _members(cur, w: _Work) -> dict:
    n = _exec(
        cur,
        w.as_select(
            w.members,
            f"""SELECT joined, tier_id, referred, COUNT(*) AS members
                FROM {w.m} GROUP BY 1, 2, 3""",  # noqa: S608
        ),
    )
    return {"member_days": n}


def _first_orders(cur, w: _Work) -> dict:
    n = _exec(
        cur,
        w.as_select(
            w.first,
            f"""SELECT y.member_id, y.first_at, y.first_day, y.store_id, y.channel,
                       ROW_NUMBER() OVER (PARTITION BY y.member_id
                                          ORDER BY y.store_id NULLS FIRST, y.channel) = 1
                           AS lead,
                       y.second_day, y.referred, y.tier_id
                FROM (
                    SELECT x.*, MIN(CASE WHEN x.day > x.first_day THEN x.day END)
                                    OVER (PARTITION BY x.member_id) AS second_day
                    FROM (
                        SELECT o.member_id, o.tier_id, o.referred, o.day, o.store_id,
                               o.channel, o.first_at, MIN(o.first_at) OVER w AS m_first,
                               MIN(o.day) OVER w AS first_day
                        FROM {w.od} o WHERE o.orders > 0
                        WINDOW w AS (PARTITION BY o.member_id)
                    ) x
                ) y
                WHERE y.first_at = y.m_first
                ORDER BY y.first_at""",  # noqa: S608
        ),
    )
    return {"first_orders": n}


# What each rollup is made of: its columns, in the order of the SELECT that fills them.
_COPIED = (
    (
        KpiSalesDay,
        "day, store_id, channel, tier_id, sales, orders, gross_eur, returns_eur",
        "sales",
    ),
    (KpiMembersDay, "day, tier_id, referred, members", "members"),
    (KpiLedgerDay, "day, kind, tier_id, credit, debit", "ledger"),
    (
        KpiFirstOrder,
        "member_id, first_at, first_day, store_id, channel, lead, second_day, referred, tier_id",
        "first",
    ),
)


def _publish(cur, w: _Work) -> dict:
    """Replace every rollup with the work tables' rows (in the caller's transaction).
    A serial run computes the sales and members here: they are small, and the serial
    run has no other connection to compute them on."""
    rows: dict[str, int] = {}
    if not w.shared:
        rows.update(_sales(cur, w))
        rows.update(_members(cur, w))
    state_keep(cur, w)  # the members' contributions, for the incremental runs
    for model in ROLLUPS:
        cur.execute(f"DELETE FROM {_t(model)}")  # noqa: S608
    for model, columns, table in _COPIED:
        cur.execute(
            f"INSERT INTO {_t(model)} ({columns}) SELECT * FROM {getattr(w, table)}"  # noqa: S608
        )
    rows["activity"] = _exec(
        cur,
        f"""INSERT INTO {_t(KpiActivity)}
                (level, day, store_id, channel, tier_id, active, repeating)
            SELECT level, day, store_id, channel, tier_id,
                   SUM(CASE g WHEN 'end' THEN -na ELSE na END),
                   SUM(CASE g WHEN 'end' THEN -nr ELSE nr END)
            FROM {w.ev} WHERE g <> 'cohort'
            GROUP BY 1, 2, 3, 4, 5
            HAVING SUM(CASE g WHEN 'end' THEN -na ELSE na END) <> 0
                OR SUM(CASE g WHEN 'end' THEN -nr ELSE nr END) <> 0""",  # noqa: S608
    )
    rows["cohorts"] = _exec(
        cur,
        f"""INSERT INTO {_t(KpiCohort)} (level, joined_month, order_month, day, store_id,
                channel, tier_id, members)
            SELECT level, cm, om, day, store_id, channel, tier_id, nc
            FROM {w.ev} WHERE g = 'cohort'""",  # noqa: S608
    )
    return rows
