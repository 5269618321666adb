"""What the rollup job keeps between runs so that the hourly run can be incremental
(loyalty/console/rollup_delta.py): the marks (how far each source table had been counted)
and the per-member state (each member's contribution to the rollups).

**Marks, and why no sale is lost.** Before each run takes its snapshot it reads the
highest id of each source table (sales, returns, ledger, tier changes, members) and the
clock, then waits until every transaction that was open at that moment has ended
(pg_stat_activity, a few seconds at most). A row with an id up to that mark was given its
id before the mark was read, so by a transaction open then: once those have all ended,
every such row is committed (or rolled back) and the run's snapshot holds it. The mark
is *settled*. The next run treats every row above the last settled mark as new, whichever
order the sales committed in: a sale that took a lower id but committed after the
snapshot is above the mark, and is counted the next hour. A mark that cannot settle (a
long import still open) is kept unsettled, and the next run starts from the settled one
before it (more rows, the same answer). Counting a row twice is impossible by
construction: a run does not add new rows, it recomputes the members they belong to.

**State.** The full build's per-member work tables are kept (renamed, not copied):
`od` (sales per member, local day, store and channel), `m` (each member's join day,
tier and referral) and `lm` (carats per member, local day and kind), indexed by member.
The incremental run subtracts a touched member's old rows from the rollups and adds
their new ones, then replaces their state rows. The tables are UNLOGGED (not in the WAL,
not on replicas, emptied by a crash): without them the next run is a full build.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection

from loyalty.console.models import KpiRollupMark
from members.models import LedgerEntry, Member
from pos.models import Purchase, Return
from tiers.models import TierChange

# source -> (model, the SQL giving the member ids of its rows above a mark, %s = the mark)
SOURCES = {
    "purchase": (Purchase, "SELECT member_id FROM {t} WHERE id > %s"),
    "return": (
        Return,
        "SELECT p.member_id FROM {t} r JOIN "  # noqa: S608 - names from models
        + Purchase._meta.db_table
        + " p ON p.id = r.purchase_id WHERE r.id > %s",
    ),
    "ledger": (LedgerEntry, "SELECT member_id FROM {t} WHERE id > %s"),
    "tier": (TierChange, "SELECT member_id FROM {t} WHERE id > %s"),
    "member": (Member, "SELECT id FROM {t} WHERE id > %s"),
}
STATE = ("od", "m", "lm")  # the work tables kept between runs


def state_table(name: str) -> str:
    return f"loyalty_kpistate_{name}"


def mark_read() -> tuple:
    """(clock, {source: highest id}) now, read before the run's snapshot."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT "  # noqa: S608 - names from models
            + ", ".join(
                f"(SELECT COALESCE(MAX(id), 0) FROM {m._meta.db_table})"  # noqa: S608
                for m, _ in SOURCES.values()
            )
        )
        hi = dict(zip(SOURCES, cur.fetchone(), strict=True))
        cur.execute("SELECT clock_timestamp()")  # after the ids were read
        return cur.fetchone()[0], hi


# Open transactions that may still hold ids given before the mark: those with a
# transaction id (they wrote), those running a statement (an INSERT may have drawn its id
# and not written yet), and sessions this role may not see (state NULL).
_OPEN = """
    SELECT COUNT(*) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND backend_type = 'client backend'
      AND (state IS NULL
           OR (xact_start <= %s AND (backend_xid IS NOT NULL OR state = 'active')))"""


def mark_settle(taken_at, *, wait: float | None = None) -> bool:
    """Wait (autocommit: each look is a fresh view of pg_stat_activity) until no
    transaction open at `taken_at` is left; False if some still are after `wait` s."""
    if connection.in_atomic_block:  # a caller's transaction (the tests) sees its own rows
        return True
    if wait is None:
        wait = getattr(settings, "CARAT_KPI_ROLLUP_SETTLE_SECONDS", 5)
    deadline = time.monotonic() + wait
    with connection.cursor() as cur:
        while True:
            cur.execute(_OPEN, [taken_at])
            if cur.fetchone()[0] == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def mark_save(taken_at, hi: dict, settled: bool) -> None:
    """Record the run's mark and forget those no run will start from again (older than
    the newest settled one)."""
    KpiRollupMark.objects.create(taken_at=taken_at, hi=hi, settled=settled)
    newest = KpiRollupMark.objects.filter(settled=True).order_by("-taken_at").first()
    if newest is not None:
        KpiRollupMark.objects.filter(taken_at__lt=newest.taken_at).delete()


def mark_start() -> dict | None:
    """Where the next incremental run starts: the newest settled mark's ids."""
    mark = KpiRollupMark.objects.filter(settled=True).order_by("-taken_at").first()
    return None if mark is None else mark.hi


def state_ready(cur) -> bool:
    """The state tables exist and hold the members (a crash empties unlogged tables)."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", [state_table("m")])
    if not cur.fetchone()[0]:
        return False
    m = Member._meta.db_table
    cur.execute(
        f"SELECT EXISTS (SELECT 1 FROM {state_table('m')}) "  # noqa: S608
        f"OR NOT EXISTS (SELECT 1 FROM {m})"
    )
    return cur.fetchone()[0]


def state_index(cur, table: str) -> None:
    cur.execute(f"CREATE INDEX ON {table} (member_id)")
    cur.execute(f"ANALYZE {table}")


def state_keep(cur, w) -> None:
    """In the publishing transaction: the full build's per-member work tables become the
    state. Shared (unlogged, indexed by the compute phase) ones are renamed; a serial
    run's temporary ones are copied."""
    for name in STATE:
        table = state_table(name)
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        if w.shared:
            cur.execute(f"ALTER TABLE {getattr(w, name)} RENAME TO {table}")
        else:
            cur.execute(f"CREATE UNLOGGED TABLE {table} AS SELECT * FROM {getattr(w, name)}")  # noqa: S608
            state_index(cur, table)


def merge(cur, model, keys: tuple[str, ...], values: tuple[str, ...], delta: str, keep: str):
    """Add the signed rows of `delta` (SELECT keys..., values...) to the rollup `model`:
    the matching rows and the delta are summed per key, and a row stays only if `keep`
    (a condition on the sums) holds. The delta is a small analysed table first, so the
    rollup is joined to it by hash (NULL ids match as -1), not scanned once per key."""
    table = connection.ops.quote_name(model._meta.db_table)
    nullable = {"store_id", "tier_id"}

    def eq(c):
        return f"COALESCE(t.{c}, -1) = COALESCE(d.{c}, -1)" if c in nullable else f"t.{c} = d.{c}"

    k, v = ", ".join(keys), ", ".join(values)
    sums = ", ".join(f"SUM({c}) AS {c}" for c in values)
    cur.execute("DROP TABLE IF EXISTS kpi_delta")
    cur.execute(
        f"CREATE TEMPORARY TABLE kpi_delta ON COMMIT DROP AS "  # noqa: S608 - names from code
        f"SELECT {k}, {sums} FROM ({delta}) x GROUP BY {k}"
    )
    cur.execute("ANALYZE kpi_delta")
    cur.execute(
        f"""WITH gone AS (DELETE FROM {table} t USING kpi_delta d
                          WHERE {" AND ".join(map(eq, keys))}
                          RETURNING {", ".join(f"t.{c}" for c in keys + values)})
            INSERT INTO {table} ({k}, {v})
            SELECT {k}, {sums} FROM (SELECT {k}, {v} FROM gone
                                     UNION ALL SELECT {k}, {v} FROM kpi_delta) u
            GROUP BY {k} HAVING {keep}"""  # noqa: S608 - names from models and code
    )
    written = cur.rowcount
    cur.execute("DROP TABLE kpi_delta")
    return written


def exec_count(cur, sql: str, params=()) -> int:
    """Run a statement; the number of rows it wrote."""
    cur.execute(sql, params)
    return cur.rowcount
