"""The dashboard's rollups: the service that rebuilds them (the only writer).

The console's KPIs (loyalty.kpis) are set-based queries over the sales and the ledger.
At a million members those scans take seconds each, so a job condenses the raw tables
into small facts (loyalty.models.Kpi*): sales per day, carats per day, members per join
day, the changes of the 12-month activity per day, each buyer's first and second order,
and the monthly cohorts. The dashboard then answers any period and filter from them in
milliseconds, with the same definitions as the live queries (tests compare both).

One run rebuilds everything in one REPEATABLE READ transaction, so every rollup counts
the same committed state (`KpiRollupRun.as_of`); readers keep seeing the previous run
until it commits. Everything is INSERT ... SELECT over temporary tables: no row passes
through Python. PostgreSQL only: on SQLite (`make run`'s small demo) there is no rollup
and the dashboard stays live.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from loyalty.models import (
    KpiActivity,
    KpiCohort,
    KpiFirstOrder,
    KpiLedgerDay,
    KpiMembersDay,
    KpiRollupRun,
    KpiSalesDay,
)
from members.models import LedgerEntry, Member
from pos.models import Purchase, Return
from tiers.models import MemberTier

# The sales filters each activity and cohort row is for: level -> (store, channel) columns.
LEVELS = {
    "": ("NULL::integer", "''"),
    "s": ("o.store_id", "''"),
    "c": ("NULL::integer", "o.channel"),
    "sc": ("o.store_id", "o.channel"),
}


ROLLUPS = (KpiSalesDay, KpiMembersDay, KpiLedgerDay, KpiActivity, KpiCohort, KpiFirstOrder)
TEMPORARY = ("kpi_ret", "kpi_m", "kpi_od", "kpi_cal", "kpi_ev")


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


def kpi_rollup_build() -> KpiRollupRun | None:
    """Rebuild every rollup from the sales, returns, ledger, members and tiers."""
    if not rollup_supported():
        return None
    started = time.monotonic()
    rows: dict[str, int] = {}
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cur:
        if outermost:  # one snapshot for every statement below (must come first)
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        # Big in-memory sorts and hashes for this job only; no JIT (compiling costs more
        # than it saves on these one-off statements).
        cur.execute("SET LOCAL work_mem = '512MB'")
        cur.execute("SET LOCAL jit = off")
        # The snapshot starts with the next statement: it holds at least what was
        # committed by now.
        as_of: datetime = timezone.now()
        for step in (_prepare, _sales, _members, _ledger, _activity, _first_orders):
            t0 = time.monotonic()
            rows.update(step(cur))
            rows[f"{step.__name__[1:]}_seconds"] = round(time.monotonic() - t0, 2)
        # Dropped at commit; now too, for a caller's longer transaction (the tests).
        cur.execute(f"DROP TABLE IF EXISTS {', '.join(TEMPORARY)}")
        run = KpiRollupRun.objects.create(
            as_of=as_of, seconds=round(time.monotonic() - started, 2), rows=rows
        )
        KpiRollupRun.objects.exclude(pk=run.pk).delete()
    if outermost:  # committed: reclaim the previous run's rows, refresh the statistics
        with connection.cursor() as cur:
            cur.execute(f"VACUUM (ANALYZE) {', '.join(_t(m) for m in ROLLUPS)}")
    return run


def _exec(cur, sql: str, params=()) -> int:
    cur.execute(sql, params)
    return cur.rowcount


def _prepare(cur) -> dict:
    """Temporary tables shared by the steps: returns per sale; each member's join day and
    month, tier and referral; and `kpi_od`, the sales per member, local day, store and
    channel (one pass over the sales) with how many of them are orders (not fully
    returned) and the moment of the first order."""
    zone = settings.TIME_ZONE
    _exec(
        cur,
        f"""CREATE TEMPORARY TABLE kpi_ret ON COMMIT DROP AS
            SELECT purchase_id, SUM(amount) AS amount, SUM(amount_eur) AS eur
            FROM {_t(Return)} GROUP BY purchase_id""",  # noqa: S608 - table names from models
    )
    cur.execute("CREATE UNIQUE INDEX ON kpi_ret (purchase_id)")
    _exec(
        cur,
        f"""CREATE TEMPORARY TABLE kpi_m ON COMMIT DROP AS
            SELECT m.id AS member_id, j.joined, date_trunc('month', j.joined)::date AS jm,
                   m.referred_by_id IS NOT NULL AS referred, mt.tier_id
            FROM {_t(Member)} m
            CROSS JOIN LATERAL (SELECT (m.joined_at AT TIME ZONE %s)::date AS joined) j
            LEFT JOIN {_t(MemberTier)} mt ON mt.member_id = m.id""",  # noqa: S608
        [zone],
    )
    cur.execute("ANALYZE kpi_m")
    # The sales are grouped on their own columns first, then joined to their member's
    # (one row each): sorting and comparing four keys instead of eight took about a
    # quarter off this statement at a million members.
    n = _exec(
        cur,
        f"""CREATE TEMPORARY TABLE kpi_od ON COMMIT DROP AS
            SELECT s.member_id, m.tier_id, m.joined, m.jm, m.referred, s.day, s.store_id,
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
                LEFT JOIN kpi_ret r ON r.purchase_id = p.id
                GROUP BY 1, 2, 3, 4
            ) s
            JOIN kpi_m m ON m.member_id = s.member_id""",  # noqa: S608
        [zone],
    )
    cur.execute("ANALYZE kpi_od")
    return {"sales_member_days": n}


def _sales(cur) -> dict:
    cur.execute(f"DELETE FROM {_t(KpiSalesDay)}")  # noqa: S608
    n = _exec(
        cur,
        f"""INSERT INTO {_t(KpiSalesDay)}
                (day, store_id, channel, tier_id, sales, orders, gross_eur, returns_eur)
            SELECT day, store_id, channel, tier_id, SUM(sales), SUM(orders), SUM(gross),
                   SUM(back)
            FROM kpi_od GROUP BY 1, 2, 3, 4 ORDER BY 1""",  # noqa: S608
    )
    return {"sales_days": n}


def _members(cur) -> dict:
    cur.execute(f"DELETE FROM {_t(KpiMembersDay)}")  # noqa: S608
    n = _exec(
        cur,
        f"""INSERT INTO {_t(KpiMembersDay)} (day, tier_id, referred, members)
            SELECT joined, tier_id, referred, COUNT(*) FROM kpi_m GROUP BY 1, 2, 3""",  # noqa: S608
    )
    return {"member_days": n}


def _ledger(cur) -> dict:
    cur.execute(f"DELETE FROM {_t(KpiLedgerDay)}")  # noqa: S608
    n = _exec(
        cur,
        f"""INSERT INTO {_t(KpiLedgerDay)} (day, kind, tier_id, credit, debit)
            SELECT (l.created_at AT TIME ZONE %s)::date, l.kind, mt.tier_id,
                   COALESCE(SUM(l.carats) FILTER (WHERE l.carats > 0), 0),
                   COALESCE(SUM(l.carats) FILTER (WHERE l.carats < 0), 0)
            FROM {_t(LedgerEntry)} l
            LEFT JOIN {_t(MemberTier)} mt ON mt.member_id = l.member_id
            GROUP BY 1, 2, 3""",  # noqa: S608
        [settings.TIME_ZONE],
    )
    return {"ledger_days": n}


def _activity(cur) -> dict:
    """Activity and cohorts, from one ordered pass over each level's member-days.

    Active at the end of day D (an order in [D+1 - 1 year, D+1)): a member is active
    from the day after an order until `yend` of it, the first end whose year before is
    past the order (29 February makes that a day later in some years). Repeating (orders
    on two days of those 12 months): from the day after their next order until `yend` of
    the earlier one. Both ends grow with the order day, so starting each interval no
    earlier than the end of the one before makes a member's intervals disjoint; they are
    then counted as +1/-1 changes per day.

    Cohorts: a member's first order day in a month (no order earlier that month) counts
    them as a buyer of that month from the later of that day and their join day."""
    cur.execute(f"DELETE FROM {_t(KpiActivity)}")  # noqa: S608
    cur.execute(f"DELETE FROM {_t(KpiCohort)}")  # noqa: S608
    cur.execute(
        """CREATE TEMPORARY TABLE kpi_cal ON COMMIT DROP AS
           SELECT d::date AS day, date_trunc('month', d)::date AS month,
                  CASE WHEN ((d + interval '1 year')::date + 1 - interval '1 year')::date
                            <= d::date
                       THEN (d + interval '1 year')::date + 2
                       ELSE (d + interval '1 year')::date + 1 END AS yend
           FROM (SELECT MIN(day) AS lo, MAX(day) AS hi FROM kpi_od) b,  -- one scan
                generate_series(b.lo, b.hi, interval '1 day') d"""
    )
    cur.execute("CREATE UNIQUE INDEX ON kpi_cal (day)")
    cur.execute(
        """CREATE TEMPORARY TABLE kpi_ev (level varchar(2), g varchar(6), day date, cm date,
               om date, store_id integer, channel varchar(8), tier_id integer,
               na bigint, nr bigint, nc bigint) ON COMMIT DROP"""
    )
    for level, (store, channel) in LEVELS.items():
        where = "WHERE o.orders > 0" + (" AND o.store_id IS NOT NULL" if "s" in level else "")
        # One sort per level serves every window below; then four small GROUP BYs
        # (hashed) over the member-days: the activity starts, the ends, the repeat
        # starts, the cohort cells.
        cur.execute(
            f"""INSERT INTO kpi_ev
                WITH x AS ({_member_days(level, store, channel, where)}),
                y AS MATERIALIZED (  -- read by the four GROUP BYs below
                    SELECT x.store_id, x.channel, x.tier_id,
                           GREATEST(x.day + 1, cp.yend) AS a_start,
                           CASE WHEN x.next IS NOT NULL  -- GREATEST skips NULLs
                                THEN GREATEST(x.next + 1, cp.yend) END AS r_start,
                           c.yend AS a_end,
                           x.jm AS cm, c.month AS om,
                           GREATEST(x.joined, x.day) AS cday,
                           (x.prev IS NULL OR cp.month < c.month) AND c.month >= x.jm
                               AS cohort
                    FROM x
                    JOIN kpi_cal c ON c.day = x.day
                    LEFT JOIN kpi_cal cp ON cp.day = x.prev
                )
                SELECT %(level)s, 'start', a_start, NULL::date, NULL::date, store_id, channel,
                       tier_id, COUNT(*), 0, 0
                FROM y WHERE a_start < a_end GROUP BY a_start, store_id, channel, tier_id
                UNION ALL
                SELECT %(level)s, 'end', a_end, NULL, NULL, store_id, channel, tier_id,
                       COUNT(*) FILTER (WHERE a_start < a_end),
                       COUNT(*) FILTER (WHERE r_start < a_end), 0
                FROM y GROUP BY a_end, store_id, channel, tier_id
                UNION ALL
                SELECT %(level)s, 'repeat', r_start, NULL, NULL, store_id, channel, tier_id,
                       0, COUNT(*), 0
                FROM y WHERE r_start < a_end GROUP BY r_start, store_id, channel, tier_id
                UNION ALL
                SELECT %(level)s, 'cohort', cday, cm, om, store_id, channel, tier_id, 0, 0,
                       COUNT(*)
                FROM y WHERE cohort GROUP BY cday, cm, om, store_id, channel, tier_id""",  # noqa: S608
            {"level": level},
        )
    activity = _exec(
        cur,
        f"""INSERT INTO {_t(KpiActivity)}
                (level, day, store_id, channel, tier_id, active, repeating)
            SELECT level, day, store_id, channel, tier_id,
                   SUM(CASE g WHEN 'end' THEN -na ELSE na END),
                   SUM(CASE g WHEN 'end' THEN -nr ELSE nr END)
            FROM kpi_ev WHERE g <> 'cohort'
            GROUP BY 1, 2, 3, 4, 5
            HAVING SUM(CASE g WHEN 'end' THEN -na ELSE na END) <> 0
                OR SUM(CASE g WHEN 'end' THEN -nr ELSE nr END) <> 0""",  # noqa: S608
    )
    cohorts = _exec(
        cur,
        f"""INSERT INTO {_t(KpiCohort)} (level, joined_month, order_month, day, store_id,
                channel, tier_id, members)
            SELECT level, cm, om, day, store_id, channel, tier_id, nc
            FROM kpi_ev WHERE g = 'cohort'""",  # noqa: S608
    )
    return {"activity": activity, "cohorts": cohorts}


def _member_days(level: str, store: str, channel: str, where: str) -> str:
    """The level's member-days with orders, each with the day before and after it (NULL
    at either end): rows of (member_id, tier_id, joined, jm, store_id, channel, day,
    prev, next). kpi_od has one row per member, day, store and channel, so at level sc
    one window gives both neighbours. Above it a member's day can have several rows
    (stores, channels): the first row of a day keeps it (the row before it is the
    previous day), and the next day is the following kept row, from a second window
    over the rows the first one left in order (no second sort). That costs less than
    finding the next day with a RANGE frame over all the rows."""
    keys = (
        ["member_id"]
        + (["store_id"] if "s" in level else [])
        + (["channel"] if "c" in level else [])
    )
    by = ", ".join(f"o.{k}" for k in keys)
    by_d = ", ".join(f"d.{k}" for k in keys)

    def first_window(lead: str) -> str:
        return f"""
        SELECT o.member_id, o.tier_id, o.joined, o.jm, {store} AS store_id,
               {channel} AS channel, o.day, LAG(o.day) OVER w AS prev{lead}
        FROM kpi_od o {where}
        WINDOW w AS (PARTITION BY {by} ORDER BY o.day)"""  # noqa: S608

    if level == "sc":
        return first_window(", LEAD(o.day) OVER w AS next")
    return f"""
        SELECT d.*, LEAD(d.day) OVER w AS next
        FROM ({first_window("")}) d
        WHERE d.prev IS DISTINCT FROM d.day
        WINDOW w AS (PARTITION BY {by_d} ORDER BY d.day)"""  # noqa: S608


def _first_orders(cur) -> dict:
    cur.execute(f"DELETE FROM {_t(KpiFirstOrder)}")  # noqa: S608
    n = _exec(
        cur,
        f"""INSERT INTO {_t(KpiFirstOrder)} (member_id, first_at, first_day, store_id,
                channel, lead, second_day, referred, tier_id)
            SELECT y.member_id, y.first_at, y.first_day, y.store_id, y.channel,
                   ROW_NUMBER() OVER (PARTITION BY y.member_id
                                      ORDER BY y.store_id NULLS FIRST, y.channel) = 1,
                   y.second_day, y.referred, y.tier_id
            FROM (
                SELECT x.*, MIN(CASE WHEN x.day > x.first_day THEN x.day END)
                                OVER (PARTITION BY x.member_id) AS second_day
                FROM (
                    SELECT o.member_id, o.tier_id, o.referred, o.day, o.store_id, o.channel,
                           o.first_at, MIN(o.first_at) OVER w AS m_first,
                           MIN(o.day) OVER w AS first_day
                    FROM kpi_od o WHERE o.orders > 0
                    WINDOW w AS (PARTITION BY o.member_id)
                ) x
            ) y
            WHERE y.first_at = y.m_first
            ORDER BY y.first_at""",  # noqa: S608
    )
    return {"first_orders": n}
