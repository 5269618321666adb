"""The rollups' activity and cohort steps (loyalty/console/rollup.py): from the member-days
of the sales (`od`), the changes per day of the members active and repeating over the
12 months, and the cohort cells, for each level of sales filters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loyalty.console.rollup_state import exec_count as _exec

if TYPE_CHECKING:
    from loyalty.console.rollup import _Work

# The sales filters each activity and cohort row is for: level -> (store, channel) columns.
LEVELS = {
    "": ("NULL::integer", "''"),
    "s": ("o.store_id", "''"),
    "c": ("NULL::integer", "o.channel"),
    "sc": ("o.store_id", "o.channel"),
}


def _calendar(cur, w: _Work) -> None:
    """Each day the sales span, with its month and `yend`: the first end of day whose
    year before no longer holds the day (29 February makes that a day later in some
    years)."""
    cur.execute(
        w.as_select(
            w.cal,
            f"""SELECT d::date AS day, date_trunc('month', d)::date AS month,
                       CASE WHEN ((d + interval '1 year')::date + 1 - interval '1 year')::date
                                 <= d::date
                            THEN (d + interval '1 year')::date + 2
                            ELSE (d + interval '1 year')::date + 1 END AS yend
                FROM (SELECT MIN(day) AS lo, MAX(day) AS hi FROM {w.od}) b,  -- one scan
                     generate_series(b.lo, b.hi, interval '1 day') d""",  # noqa: S608
        )
    )
    cur.execute(f"CREATE UNIQUE INDEX ON {w.cal} (day)")
    cur.execute(f"ANALYZE {w.cal}")


def _ev_table(cur, w: _Work) -> None:
    cur.execute(
        w.create(
            w.ev,
            """(level varchar(2), g varchar(6), day date, cm date, om date, store_id integer,
                channel varchar(8), tier_id integer, na bigint, nr bigint, nc bigint)""",
        )
    )


def _activity_level(cur, w: _Work, level: str) -> dict:
    """One level's activity and cohort changes, from one ordered pass over its
    member-days, into the `ev` work table.

    Active at the end of day D (an order in [D+1 - 1 year, D+1)): a member is active
    from the day after an order until `yend` of it (see _calendar). Repeating (orders on
    two days of those 12 months): from the day after their next order until `yend` of
    the earlier one. Both ends grow with the order day, so starting each interval no
    earlier than the end of the one before makes a member's intervals disjoint; they are
    then counted as +1/-1 changes per day.

    Cohorts: a member's first order day in a month (no order earlier that month) counts
    them as a buyer of that month from the later of that day and their join day."""
    store, channel = LEVELS[level]
    where = "WHERE o.orders > 0" + (" AND o.store_id IS NOT NULL" if "s" in level else "")
    # One sort per level serves every window below; then four small GROUP BYs (hashed)
    # over the member-days: the activity starts, the ends, the repeat starts, the cohort
    # cells.
    n = _exec(
        cur,
        f"""INSERT INTO {w.ev}
            WITH x AS ({_member_days(w, level, store, channel, where)}),
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
                JOIN {w.cal} c ON c.day = x.day
                LEFT JOIN {w.cal} cp ON cp.day = x.prev
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
    return {f"events_{level or 'all'}": n}


def _member_days(w: _Work, level: str, store: str, channel: str, where: str) -> str:
    """The level's member-days with orders, each with the day before and after it (NULL
    at either end): rows of (member_id, tier_id, joined, jm, store_id, channel, day,
    prev, next). `od` has one row per member, day, store and channel, so at level sc
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
        FROM {w.od} o {where}
        WINDOW w AS (PARTITION BY {by} ORDER BY o.day)"""  # noqa: S608

    if level == "sc":
        return first_window(", LEAD(o.day) OVER w AS next")
    return f"""
        SELECT d.*, LEAD(d.day) OVER w AS next
        FROM ({first_window("")}) d
        WHERE d.prev IS DISTINCT FROM d.day
        WINDOW w AS (PARTITION BY {by_d} ORDER BY d.day)"""  # noqa: S608
