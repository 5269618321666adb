"""`make bench`: Carat at 1,000,000 members beside raw PostgreSQL, on the same data.

    python bench/run.py            # full: 1,000,000 members, 5,000,000 ledger entries
    python bench/run.py --small    # quick: 20,000 members, 100,000 ledger entries

Seeds a separate database (carat_bench, or carat_bench_small) with COPY (bench/seed.py),
then measures, each beside its raw-PostgreSQL baseline measured in the same run:
1. POS earn over HTTP (gunicorn, production settings; wrk in its own process) vs pgbench
   running the equivalent transaction; QR lookup over HTTP vs pgbench's equivalent reads;
2. the retroactive import of historical purchases (manage.py import_history) vs COPY of
   the same rows into the same tables;
3. the nightly tier evaluation vs the raw GROUP BY aggregate over the same window;
4. one day of trigger e-mails: select and queue;
5. the console: member list, searches, a member's page; 6. the dashboard (admin index);
7. the nightly predictions (BG/NBD and Gamma-Gamma): features, fit, scoring, write-back.
Prints one table and prepends it, with the machine's description, to bench/results.md
(older runs stay below as history). Not part of `make test` or CI."""

# ruff: noqa: S603 - the benchmark starts its own tools (manage.py)

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import http_load
import importgen
import seed as seedmod
from common import (
    BENCH,
    PY,
    REDIS_DB,
    ROOT,
    WORK,
    Timer,
    connect,
    cpu_seconds_by_group,
    django_env,
    django_task,
    loadavg,
    machine,
    manage,
    median,
)

SIZES = {
    "small": {
        "members": 20_000,
        "ledger": 100_000,
        "import": 20_000,
        "seconds": 10,
        "warmup": 4,
        "connections": [2, 4],
        "hour_sales": 200,
    },
    "full": {
        "members": 1_000_000,
        "ledger": 5_000_000,
        "import": 1_000_000,
        "seconds": 30,
        "warmup": 8,
        "connections": [2, 4, 8],
        "hour_sales": 1_000,
    },
}
TARGETS = {
    "earn_ratio": 0.15,
    "earn_p99": 30.0,
    "lookup_p99": 10.0,
    "import_ratio": 3.0,
    "tiers_ratio": 1.5,
    "triggers_seconds": 60.0,
    "page_seconds": 1.0,
    "client_search_p99": 50.0,
    "predictions_seconds": 300.0,
    "segment_seconds": 5.0,
}
RESULTS = BENCH / "results.md"
KEEP_RUNS = 12


def log(msg: str) -> None:
    print(msg, flush=True)


class Row:
    def __init__(self, name, carat, baseline="-", ratio=None, target="", ok=None, note=""):
        self.name, self.carat, self.baseline = name, carat, baseline
        self.ratio, self.target, self.ok, self.note = ratio, target, ok, note

    def cells(self) -> list[str]:
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        result = {True: "pass", False: "**FAIL**", None: "n/a"}[self.ok]
        return [self.name, self.carat, self.baseline, ratio, self.target, result]


def table(rows: list[Row]) -> str:
    head = ["measurement", "Carat", "baseline (raw PostgreSQL)", "ratio", "target", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def fmt_load(r: dict) -> str:
    return f"{r['rps']:.0f}/s, p50 {r['p50']:.1f} / p95 {r['p95']:.1f} / p99 {r['p99']:.1f} ms"


# --- measurements ----------------------------------------------------------------------


def measure_tiers(db: str, info: dict, details: list) -> list[Row]:
    log(
        "tier evaluation: raw aggregate and tiers_evaluate_all in turn (x5, rolled back), then committed"
    )
    sql = (
        "SELECT count(*), sum(qc) FROM (SELECT member_id, SUM(carats) AS qc "
        "FROM members_ledgerentry WHERE kind IN ('purchase', 'return', 'retroactive') "
        "AND occurred_at >= %s GROUP BY member_id) q"
    )
    with connect(db) as conn:
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN " + sql.replace("%s", "now() - interval '1 year'")
            ).fetchall()
        )
    # Alternated in one process (baseline, job, baseline, job ...): a machine that gets
    # slower or faster during the measurement moves both series alike.
    r = django_task(db, "tiers", "5", sql)
    base = r["raw_seconds"]
    carat, baseline = median(r["seconds"]), median(base)
    details.append(
        f"- Tier evaluation: {r['upgraded']:,} upgrades, {r['downgraded']:,} downgrades, "
        f"{r['initialised']:,} initialised (only these rows are written); "
        f"{r['queries']} SQL statements; runs {', '.join(fmt_s(x) for x in r['seconds'])} "
        f"(rolled back), {fmt_s(r['committed_seconds'])} committed; raw aggregate runs "
        f"{', '.join(fmt_s(x) for x in base)} (each just before one of the job's runs, on the "
        f"same connection); the medians are compared. Slowest statement: "
        f"{r['slowest'][0]['ms']:.0f} ms (`{_one_line(r['slowest'][0]['sql'])[:160]}…`)."
    )
    details.append("  Raw aggregate plan: `" + " / ".join(_one_line(plan).split("->"))[:300] + "`")
    return [
        Row(
            f"Nightly tier evaluation, {info['members']:,} members",
            fmt_s(carat),
            fmt_s(baseline) + " (GROUP BY over the 12-month window)",
            carat / baseline,
            f"<= {TARGETS['tiers_ratio']}x",
            carat / baseline <= TARGETS["tiers_ratio"],
        )
    ]


def measure_triggers(db: str, info: dict, details: list) -> list[Row]:
    log("triggers: triggers_select + messages_dispatch (queued to Redis)")
    import redis

    r = django_task(db, "triggers")
    total = r["select_seconds"] + r["dispatch_seconds"]
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    in_broker = client.llen("celery")
    client.delete("celery")  # nothing consumes the bench's queue
    claimed = sum(r["claimed"].values())
    details.append(
        f"- Triggers: {claimed:,} claimed ("
        + ", ".join(f"{k} {v:,}" for k, v in sorted(r["claimed"].items()))
        + f") in {fmt_s(r['select_seconds'])} ({r['select_queries']} statements); dispatch "
        f"{fmt_s(r['dispatch_seconds'])} ({r['dispatch_queries']} statements): queued "
        f"{r['queued']:,}, capped {r['capped']:,}, skipped {r['skipped']:,}; "
        f"{r['outbox_tasks']} send tasks written to the outbox, {r['published']} published, "
        f"{in_broker} messages found in the Redis queue. Slowest selection statement: "
        f"{r['select_slowest'][0]['ms']:.0f} ms."
    )
    return [
        Row(
            f"One day of triggers, {info['members']:,} members (select + queue)",
            f"{fmt_s(total)} ({claimed:,} mails)",
            "-",
            None,
            f"< {TARGETS['triggers_seconds']:.0f} s",
            total < TARGETS["triggers_seconds"],
        )
    ]


ROLLUP_SECONDS = 60.0  # target of the dashboard's rollup job (hourly, all members)


def _kpi_rollup(db: str, info: dict, details: list) -> Row:
    """The hourly job that condenses sales, ledger and members into the dashboard's
    rollups (loyalty/console/rollup.py); the computed dashboard below reads them."""
    log("dashboard rollups: manage.py kpi_rollup")
    with Timer() as t:
        run = json.loads(manage(db, "kpi_rollup", "--json").stdout.strip().splitlines()[-1])
    rows = run["rows"]
    steps = ", ".join(
        f"{k.removesuffix('_seconds')} {v:.1f} s" for k, v in rows.items() if k.endswith("_seconds")
    )
    workers = rows.pop("workers", 1)
    sizes = ", ".join(f"{k} {v:,}" for k, v in rows.items() if not k.endswith("_seconds"))
    how = (
        f"{workers} connections sharing one snapshot (the steps overlap)"
        if workers > 1
        else "one REPEATABLE READ transaction"
    )
    details.append(
        f"- Dashboard rollups: {run['seconds']:.1f} s in the job ({fmt_s(t.seconds)} with the "
        f"process), {how}; steps: {steps}; rows: {sizes}."
    )
    return Row(
        f"Dashboard rollups (nightly full build), {info['members']:,} members",
        fmt_s(run["seconds"]),
        "-",
        None,
        f"< {ROLLUP_SECONDS:.0f} s",
        run["seconds"] < ROLLUP_SECONDS,
    )


INCREMENTAL_SECONDS = 10.0  # the hourly run after an hour of sales, at 1,000,000 members


def measure_rollup_hour(db: str, info: dict, size: dict, details: list) -> list[Row]:
    """The hourly rollup run (incremental) after an hour of changes made through the
    services, checked against a full rebuild."""
    sales = size["hour_sales"]
    log(f"incremental rollup: a full build, {sales:,} sales and the rest of an hour, the run")
    r = django_task(db, "rollup_hour", str(sales))
    rows = r["rows"]
    steps = ", ".join(
        f"{k.removesuffix('_seconds')} {v:.2f} s" for k, v in rows.items() if k.endswith("_seconds")
    )
    changes = ", ".join(f"{v:,} {k}" for k, v in r["changes"].items())
    details.append(
        f"- Incremental rollup (the hourly job, loyalty/console/rollup_delta.py): after an "
        f"hour of {changes} (written through the services in {r['changes_seconds']} s), "
        f"{r['seconds']:.2f} s for {rows['touched_members']:,} touched members (steps: "
        f"{steps}); the full build before it {r['full_seconds']:.1f} s and after it "
        f"{r['full_again_seconds']:.1f} s; every rollup equal to the full rebuild's (md5 "
        f"of each table's rows): {'yes' if r['same_as_full'] else 'NO'}."
    )
    return [
        Row(
            f"Dashboard rollups, hourly incremental run ({sales:,} sales and the rest of an "
            f"hour), {info['members']:,} members",
            f"{fmt_s(r['seconds'])} (full build {fmt_s(r['full_seconds'])})",
            "-",
            None,
            f"< {INCREMENTAL_SECONDS:.0f} s, equal to a full build",
            r["seconds"] < INCREMENTAL_SECONDS and r["same_as_full"],
        )
    ]


def measure_predictions(db: str, info: dict, details: list) -> list[Row]:
    """The nightly predictions job (members/predictions): one features statement, the fit on
    a sample, every buyer scored with numpy, COPY + one upsert."""
    log("predictions: features, fit, scoring, write-back")
    r = django_task(db, "predictions")
    if not r.get("scored"):
        raise RuntimeError("no buyers to score")
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in r["steps"].items())
    bg = r["params"]["bgnbd"]
    gg = r["params"]["gamma_gamma"] or {}
    details.append(
        f"- Predictions: {r['scored']:,} buyers scored, fitted on a sample of {r['sample']:,}; "
        f"steps: {steps}; BG/NBD r {bg['r']:.3f}, alpha {bg['alpha']:.1f} days, a {bg['a']:.3f}, "
        f"b {bg['b']:.3f}; Gamma-Gamma "
        + (f"p {gg['p']:.2f}, q {gg['q']:.2f}, gamma {gg['gamma']:.1f}" if gg else "not fitted")
        + f"; expected orders in 90 days {r['expected_90_total']:,.0f}."
    )
    return [
        Row(
            f"Nightly predictions (fit + scoring + write), {info['members']:,} members",
            fmt_s(r["seconds"]),
            "-",
            None,
            f"< {TARGETS['predictions_seconds']:.0f} s",
            r["seconds"] < TARGETS["predictions_seconds"],
        )
    ]


def measure_admin(db: str, info: dict, details: list) -> list[Row]:
    log("console: member list, searches, member page, dashboard")
    django_task(db, "superuser")
    rows = [_kpi_rollup(db, info, details)]
    r = django_task(db, "admin", info["sample_file"], "5")
    notes = []
    for page in r["pages"]:
        secs = median(page["seconds"])
        ok = page["status"] == 200 and secs < TARGETS["page_seconds"]
        label = page["name"]
        if page["name"].startswith("dashboard"):
            label = "Dashboard: " + page["name"].split(", ", 1)[1]
        else:
            label = "Admin: " + page["name"]
        status = "" if page["status"] == 200 else f" (HTTP {page['status']})"
        rows.append(
            Row(
                label,
                f"{fmt_s(secs)}{status}, {page['queries']} queries",
                "-",
                None,
                f"< {TARGETS['page_seconds']:.0f} s",
                ok,
            )
        )
        if page["slowest"]:
            q = page["slowest"][0]
            notes.append(
                f"  - {page['name']}: median of {len(page['seconds'])}: {fmt_s(secs)}, "
                f"{page['queries']} queries, slowest {q['ms']:.0f} ms: "
                f"`{_one_line(q['sql'])[:220]}`"
            )
    details.append(
        f"- Console pages (Django test client in one process, production settings, "
        f"superuser; the member page is a sampled member with "
        f"{r['change_member_ledger_rows']} ledger rows):"
    )
    details += notes
    return rows


def measure_clients(db: str, info: dict, details: list) -> list[Row]:
    log("client search at the counter: name, e-mail and phone prefixes")
    r = django_task(db, "client_search", info["sample_file"], "400")
    rows = []
    for label, k in r["kinds"].items():
        if not label.endswith(("any", "last name")):
            continue
        ok = k["p99_ms"] < TARGETS["client_search_p99"]
        rows.append(
            Row(
                f"Client search, {label} prefix, p99",
                f"{k['p99_ms']:.1f} ms (p50 {k['p50_ms']:.1f})",
                "-",
                None,
                f"< {TARGETS['client_search_p99']:.0f} ms",
                ok,
            )
        )
    details.append(
        f"- Client search (members.selectors.client_search, {r['members']:,} members; "
        f"'store' = the clients of store {r['store']}): "
        + "; ".join(
            f"{label}: p50 {k['p50_ms']} ms, p99 {k['p99_ms']} ms, max {k['max_ms']} ms, "
            f"{k['mean_hits']} hits"
            for label, k in r["kinds"].items()
        )
    )
    details.append("  - plan of a last-name prefix: " + " / ".join(r["plan"][:4]))
    return rows


def measure_segments(db: str, info: dict, details: list) -> list[Row]:
    log("segments by category: bought rings, never earrings")
    r = django_task(db, "segment_catalog", "3")
    rows = []
    for name, case in r["cases"].items():
        ok = case["median_s"] < TARGETS["segment_seconds"]
        rows.append(
            Row(
                f"Segment count: {name}",
                f"{fmt_s(case['median_s'])} ({case['count']:,} members)",
                "-",
                None,
                f"< {TARGETS['segment_seconds']:.0f} s",
                ok,
            )
        )
    details.append(
        f"- Segments by category (campaigns.segments_catalog: EXISTS over the sale lines, "
        f"{r['members']:,} members, one line per seeded purchase): "
        + "; ".join(
            f"{name}: median {c['median_s']} s, max {c['max_s']} s, {c['count']:,} members"
            for name, c in r["cases"].items()
        )
    )
    first = next(iter(r["cases"].values()))
    details.append("  - plan of the first: " + " / ".join(first["plan"][:6]))
    return rows


def m_cores() -> int:
    return os.cpu_count() or 1


def _cpu_per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each process group during one load run."""
    return {
        group: (after.get(group, 0.0) - before.get(group, 0.0)) * 1000 / max(requests, 1)
        for group in after
    }


def measure_http(db: str, info: dict, size: dict, args, details: list) -> list[Row]:
    missing = [tool for tool in ("wrk", "pgbench") if not shutil.which(tool)]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not installed (apt-get install wrk postgresql-client)"
        )
    key = manage(db, "create_api_key", "--name", "bench", "--store", "antwerp").stdout.strip()
    env = {"BENCH_API_KEY": key, "BENCH_MEMBERS": info["sample_file"]}
    log("earn/lookup in process: queries per request, Python vs database time")
    q = django_task(db, "earn_queries", info["sample_file"], key, "40")
    conns, secs = size["connections"], size["seconds"]
    earn, lookup, pg_earn, pg_lookup, cpu, pg_cpu = {}, {}, {}, {}, {}, {}
    naive, naive_cpu = {}, {}
    writes = {}
    # Beside Carat, the naive ceiling: a minimal DRF view doing only pgbench's
    # insert + update through the ORM (bench/naive), in a second gunicorn that idles
    # while the others run.
    with (
        http_load.Gunicorn(db, args.workers) as server,
        http_load.Gunicorn(db, args.workers, settings="naive.settings") as naive_server,
    ):
        log(f"gunicorn on {server.url}, {args.workers} sync workers; wrk warm-up")
        http_load.wrk(server.url, "earn", connections=max(conns), seconds=size["warmup"], env=env)
        http_load.wrk(server.url, "lookup", connections=max(conns), seconds=size["warmup"], env=env)
        http_load.wrk(
            naive_server.url, "naive", connections=max(conns), seconds=size["warmup"], env=env
        )
        lo, hi = info["member_id_min"], info["member_id_max"]
        # Each Carat run is followed at once by its pgbench baseline (gunicorn idles
        # meanwhile): this machine's speed drifts by several percent over minutes, and a
        # ratio of two runs taken side by side drifts least.
        for i, c in enumerate(conns):
            log(f"  wrk earn, {c} connections, {secs} s  (load {loadavg()})")
            before = table_stats(db)
            cpu0 = cpu_seconds_by_group()
            earn[c] = http_load.wrk(server.url, "earn", connections=c, seconds=secs, env=env)
            cpu[c] = _cpu_per_request(cpu0, cpu_seconds_by_group(), earn[c]["requests"])
            log(f"    {fmt_load(earn[c])}, {earn[c]['errors']} errors")
            if i == 0:  # rows written per earn: the first run's window
                time.sleep(10)  # idle backends flush their statistics within 10 s
                writes["carat"] = [(earn[c]["requests"], before, table_stats(db))]
            log(f"  pgbench earn, {c} clients, {secs} s  (load {loadavg()})")
            before = table_stats(db)
            cpu0 = cpu_seconds_by_group()
            pg_earn[c] = http_load.pgbench(db, "earn", clients=c, seconds=secs, minid=lo, maxid=hi)
            pg_cpu[c] = _cpu_per_request(cpu0, cpu_seconds_by_group(), pg_earn[c]["requests"])
            writes.setdefault("pgbench", []).append(
                (pg_earn[c]["requests"], before, table_stats(db))
            )
            log(f"    {fmt_load(pg_earn[c])}")
            log(f"  wrk naive DRF earn view, {c} connections, {secs} s")
            cpu0 = cpu_seconds_by_group()
            naive[c] = http_load.wrk(
                naive_server.url, "naive", connections=c, seconds=secs, env=env
            )
            naive_cpu[c] = _cpu_per_request(cpu0, cpu_seconds_by_group(), naive[c]["requests"])
            log(f"    {fmt_load(naive[c])}, {naive[c]['errors']} errors")
            log(f"  wrk lookup, {c} connections, {secs} s")
            lookup[c] = http_load.wrk(server.url, "lookup", connections=c, seconds=secs, env=env)
            log(f"    {fmt_load(lookup[c])}, {lookup[c]['errors']} errors")
            pg_lookup[c] = http_load.pgbench(
                db, "lookup", clients=c, seconds=secs, minid=lo, maxid=hi
            )
            log(f"  pgbench lookup: {fmt_load(pg_lookup[c])}")
        profile = None
        if args.profile:
            log("  py-spy over the workers during an earn run")
            profile = http_load.profile(server, "earn", connections=max(conns), seconds=20, env=env)
            (WORK / "profile-earn.json").write_text(json.dumps(profile, indent=1))

    def pick(runs: dict, p99: float) -> int:
        ok = [c for c in runs if runs[c]["p99"] <= p99 and runs[c]["errors"] == 0]
        pool = ok or list(runs)
        return max(pool, key=lambda c: runs[c]["rps"])

    ce, cl = pick(earn, TARGETS["earn_p99"]), pick(lookup, TARGETS["lookup_p99"])
    e, b = earn[ce], pg_earn[ce]
    ratio = e["rps"] / b["rps"]
    rows = [
        Row(
            f"POS earn, POST /api/v1/purchases/ ({ce} connections)",
            fmt_load(e) + (f", {e['errors']} errors" if e["errors"] else ""),
            "pgbench insert+update: " + fmt_load(b),
            ratio,
            f">= {TARGETS['earn_ratio']}x, p99 <= {TARGETS['earn_p99']:.0f} ms",
            ratio >= TARGETS["earn_ratio"] and e["p99"] <= TARGETS["earn_p99"] and not e["errors"],
        ),
        Row(
            f"QR lookup, GET /api/v1/members/lookup/ ({cl} connections)",
            fmt_load(lookup[cl]),
            "pgbench member+tier+12-month sum: " + fmt_load(pg_lookup[cl]),
            lookup[cl]["rps"] / pg_lookup[cl]["rps"],
            f"p99 <= {TARGETS['lookup_p99']:.0f} ms",
            lookup[cl]["p99"] <= TARGETS["lookup_p99"] and not lookup[cl]["errors"],
        ),
    ]
    sweep = [
        "| connections | earn (Carat) | earn (pgbench) | ratio | naive DRF earn view | ratio "
        "| lookup (Carat) | lookup (pgbench) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in conns:
        sweep.append(
            f"| {c} | {fmt_load(earn[c])} | {fmt_load(pg_earn[c])} | "
            f"{earn[c]['rps'] / pg_earn[c]['rps']:.2f}x | {fmt_load(naive[c])} | "
            f"{naive[c]['rps'] / pg_earn[c]['rps']:.2f}x | {fmt_load(lookup[c])} | "
            f"{fmt_load(pg_lookup[c])} |"
        )
    ei, li, raw = q["earn"], q["lookup"], q["raw"]
    details.append(
        f"- HTTP: gunicorn {args.workers} sync workers (one per core), wrk 2 threads, "
        f"{secs} s per point, members drawn from {info['sample_count']:,} sampled QR codes; "
        f"pgbench with the same client count and duration right after each Carat run (simple protocol)."
    )
    details.append(
        f"- CPU per request, one request at a time in one process (Django test client; CPU "
        f"time does not depend on the machine's other load): an earn is {ei['queries']} SQL "
        f"statements, {ei['python_cpu_ms']:.1f} ms Python CPU + {ei['pg_cpu_ms']:.1f} ms "
        f"PostgreSQL backend CPU (wall {ei['mean_ms']:.1f} ms, of which "
        f"{ei['mean_db_ms']:.1f} ms in database calls); the raw insert+update transaction costs "
        f"{raw['pg_cpu_ms']:.2f} ms PostgreSQL CPU. A lookup is {li['queries']} statements, "
        f"{li['python_cpu_ms']:.1f} ms Python + {li['pg_cpu_ms']:.1f} ms PostgreSQL CPU "
        f"(wall {li['mean_ms']:.1f} ms)."
    )
    w, p = cpu[ce], pg_cpu[ce]
    carat_ms = w.get("gunicorn", 0) + w.get("postgres", 0) + w.get("clients", 0)
    pgbench_ms = p.get("postgres", 0) + p.get("clients", 0)
    details.append(
        f"- CPU per earn under load ({ce} connections; user + system time of every process "
        f"from /proc around the run): gunicorn workers {w.get('gunicorn', 0):.2f} ms, "
        f"PostgreSQL {w.get('postgres', 0):.2f} ms, wrk {w.get('clients', 0):.2f} ms; pgbench's "
        f"transaction: PostgreSQL {p.get('postgres', 0):.2f} ms, pgbench "
        f"{p.get('clients', 0):.2f} ms. With {m_cores()} cores that caps Carat at about "
        f"{m_cores() * 1000 / max(carat_ms, 0.001):,.0f} earns/s and pgbench at about "
        f"{m_cores() * 1000 / max(pgbench_ms, 0.001):,.0f}/s: the ratio is mostly the CPU "
        f"per request (the Python of the web worker first)."
    )
    n = naive_cpu[ce]
    details.append(
        f"- The naive ceiling (bench/naive: a minimal DRF view doing only pgbench's insert + "
        f"update through the ORM, no key, throttle, lookup, rules or tier), run after each "
        f"pgbench earn: at {ce} connections {fmt_load(naive[ce])} = "
        f"{naive[ce]['rps'] / pg_earn[ce]['rps']:.2f}x pgbench (Carat's full sale "
        f"{ratio:.2f}x); CPU per request: gunicorn workers {n.get('gunicorn', 0):.2f} ms, "
        f"PostgreSQL {n.get('postgres', 0):.2f} ms. Every connection count is in the sweep."
    )
    details.append(
        "- Rows written per earn (pg_stat_user_tables over the load runs): Carat "
        + per_request(writes.get("carat", []))
        + "; pgbench "
        + per_request(writes.get("pgbench", []))
        + "."
    )
    details.append("")
    details += sweep
    details.append("")
    if profile and profile.get("inclusive"):
        app = [
            (f, p)
            for f, p in profile["inclusive"]
            if any(x in f for x in ("pos/", "members/", "tiers/", "campaigns/", "loyalty/"))
        ][:8]
        details.append(
            "- Profile of the workers (py-spy, share of busy samples incl. callees): "
            + ", ".join(f"{f} {p}%" for f, p in app)
        )
    return rows


def table_stats(db: str) -> dict:
    """Cumulative row writes per table (flushed to the statistics first)."""
    time.sleep(1.2)  # backends flush their counters at most once a second
    with connect(db) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        rows = conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def per_request(runs: list) -> str:
    total = sum(n for n, _, _ in runs)
    if not total:
        return "-"
    sums: dict[str, list[int]] = {}
    for _n, before, after in runs:
        for table, vals in after.items():
            old = before.get(table, (0, 0, 0))
            acc = sums.setdefault(table, [0, 0, 0])
            for k in range(3):
                acc[k] += vals[k] - old[k]
    parts = []
    for table, (ins, upd, hot) in sorted(sums.items(), key=lambda kv: -(kv[1][0] + kv[1][1])):
        if ins + upd < total * 0.05:
            continue
        bit = f"{table} {ins / total:.2f} ins"
        if upd:
            bit += f" + {upd / total:.2f} upd ({100 * hot / upd:.0f}% HOT)"
        parts.append(bit)
    return ", ".join(parts)


def measure_import(db: str, info: dict, size: dict, details: list) -> list[Row]:
    name = f"Retroactive import, {size['import']:,} historical purchases"
    if not (ROOT / "pos" / "imports" / "__init__.py").exists():
        log("import: pos/imports/ is not available: skipped")
        return [Row(name, "not available (pos/imports/ missing)", "-", None, "<= 3x", None)]
    with connect(db) as conn:
        done = conn.execute("SELECT exists(SELECT 1 FROM pos_purchase WHERE channel = 'import')")
        if done.fetchone()[0]:
            log("import: this database was imported into already (--reuse): skipped")
            return [Row(name, "skipped: already imported (reseed)", "-", None, "<= 3x", None)]
    today = datetime.now(ZoneInfo("Europe/Brussels")).date()
    launch = datetime(today.year, today.month, today.day, tzinfo=ZoneInfo("Europe/Brussels"))
    log(f"import: generating {size['import']:,} rows (CSV + the same rows for COPY)")
    with Timer() as t:
        gen = importgen.generate(db, info, size["import"], launch)
    log(f"  generated in {t.seconds:.0f} s: {gen['counts']}")
    log("  baseline: COPY of the same rows into the same tables (rolled back)")
    base = importgen.copy_baseline(db, gen["paths"])
    log(f"    {base:.1f} s; VACUUM ANALYZE of the three tables (not timed)")
    with connect(db, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) members_member, pos_purchase, members_ledgerentry")
    log(f"  manage.py import_history (load {loadavg()})")
    with Timer() as t:
        proc = subprocess.run(
            [
                PY,
                str(ROOT / "manage.py"),
                "import_history",
                gen["paths"]["csv"],
                "--launch-date",
                today.isoformat(),
                "-v",
                "2",
                "--show-rejected",
                "3",
            ],
            cwd=ROOT,
            env=django_env(db),
            capture_output=True,
            text=True,
            check=False,
        )
    wall = t.seconds
    (WORK / "import_history.out").write_text(proc.stdout + proc.stderr)
    for path in gen["paths"].values():  # hundreds of MB, regenerated by every run
        Path(path).unlink(missing_ok=True)
    if proc.returncode != 0:
        log(proc.stderr[-2000:])
        return [
            Row(
                name, f"failed (exit {proc.returncode}), see bench/.work", "-", None, "<= 3x", False
            )
        ]
    m = re.search(r"\(tiers as of .*?, ([\d.]+) s\)", proc.stdout)
    carat = float(m.group(1)) if m else wall
    timings = re.search(r"timings \(s\): (.*)", proc.stdout)
    summary = [ln.strip() for ln in proc.stdout.splitlines() if ":" in ln][:12]
    c = gen["counts"]
    details.append(
        f"- Import: CSV of {c['rows']:,} orders ({c['existing']:,} of seeded members by "
        f"e-mail / ERP id / phone, the rest of {c['new_members']:,} new customers, "
        f"{c['bad']:,} bad rows); the command's own time {fmt_s(carat)} (wall with "
        f"Django start-up {fmt_s(wall)}). Steps (s): {timings.group(1) if timings else '?'}. "
        f"Baseline: one transaction COPYing the same {c['new_members']:,} new members, "
        f"{c['purchases']:,} purchases and {c['ledger']:,} ledger entries into "
        f"members_member, pos_purchase and members_ledgerentry with all their indexes, "
        f"checks and (deferred, then forced) foreign keys, rolled back; the baseline does "
        f"no matching, no balances and no tier evaluation."
    )
    details.append("  Report: " + "; ".join(summary))
    return [
        Row(
            name,
            fmt_s(carat),
            f"{fmt_s(base)} (COPY of the same rows)",
            carat / base,
            f"<= {TARGETS['import_ratio']:.0f}x",
            carat / base <= TARGETS["import_ratio"],
        )
    ]


def _one_line(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().replace("|", "\\|")


# --- results file ------------------------------------------------------------------------


def write_results(section: str) -> None:
    header = (
        "# Benchmark results\n\n"
        "`make bench` (full) and `make bench-small` write here; the newest run comes first "
        "and the older ones stay below as history (the last "
        f"{KEEP_RUNS} runs). See bench/README.md for what is measured and how.\n"
    )
    old = RESULTS.read_text() if RESULTS.exists() else ""
    runs = re.split(r"(?m)^(?=## )", old)
    previous = [r for r in runs[1:] if r.startswith("## ")]
    body = [section.strip() + "\n"] + [r.rstrip() + "\n" for r in previous[: KEEP_RUNS - 1]]
    RESULTS.write_text(header + "\n" + "\n".join(body))


def machine_lines(m: dict) -> list[str]:
    pg = ", ".join(f"{k} {v}" for k, v in m["pg_settings"].items())
    return [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, Linux {m['kernel']}; "
        f"{m['postgresql']} ({pg}); Python {m['python']}; {m['tools'].get('wrk')}; "
        f"{m['tools'].get('pgbench')}.",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="20,000 members, short runs")
    parser.add_argument("--db", help="database name (default carat_bench[_small])")
    parser.add_argument(
        "--reuse", action="store_true", help="keep an existing seeded database (development)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="gunicorn sync workers (default: one per core, as the README recommends)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the workers under load")
    parser.add_argument(
        "--only",
        default="tiers,triggers,admin,rollup_hour,clients,segments,http,import,predict",
        help="comma-separated subset of: tiers, triggers, admin, rollup_hour, clients, segments, "
        "http, import, predict",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch results.md")
    args = parser.parse_args()
    mode = "small" if args.small else "full"
    size = SIZES[mode]
    db = args.db or ("carat_bench_small" if args.small else "carat_bench")
    only = set(args.only.split(","))
    WORK.mkdir(exist_ok=True)
    started = datetime.now(UTC)
    m = machine()
    load_start = loadavg()
    git_start = _git()  # the code measured (the tree may move during a long run)
    log(f"Carat benchmark ({mode}) on {m['cpu']}, {m['cores']} cores, load {load_start}")
    info_file = WORK / f"{db}.json"
    with Timer() as seed_t:
        if args.reuse and info_file.exists():
            info = json.loads(info_file.read_text())
            log(f"reusing {db} seeded {info['now']}; migrating")
            manage(db, "migrate", "--noinput", debug=True)
            with connect(db) as conn:
                conn.execute("TRUNCATE campaigns_messagelog, loyalty_outboxtask CASCADE")
                conn.commit()
        else:
            log(f"seeding {db}: {size['members']:,} members, {size['ledger']:,} ledger entries")
            info = seedmod.seed(db, size["members"], size["ledger"], log=log).__dict__
            info_file.write_text(json.dumps(info))
    info["sample_count"] = len(Path(info["sample_file"]).read_text().splitlines())
    details: list[str] = []
    rows: list[Row] = []
    steps = [
        ("tiers", lambda: measure_tiers(db, info, details)),
        ("triggers", lambda: measure_triggers(db, info, details)),
        ("admin", lambda: measure_admin(db, info, details)),
        ("rollup_hour", lambda: measure_rollup_hour(db, info, size, details)),
        ("clients", lambda: measure_clients(db, info, details)),
        ("segments", lambda: measure_segments(db, info, details)),
        ("http", lambda: measure_http(db, info, size, args, details)),
        ("import", lambda: measure_import(db, info, size, details)),
        ("predict", lambda: measure_predictions(db, info, details)),
    ]
    for name, step in steps:
        if name not in only:
            continue
        before = loadavg()
        with Timer() as t:
            try:
                rows += step()
            except Exception as exc:
                log(f"{name} failed: {exc}")
                rows.append(Row(name, f"failed: {str(exc)[:120]}", "-", None, "", False))
        log(f"  ({name}: {t.seconds:.0f} s, load before {before})")
    with connect(db) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM members_member), "
            "(SELECT count(*) FROM members_ledgerentry), (SELECT count(*) FROM pos_purchase)"
        ).fetchone()
    title = (
        f"## {started:%Y-%m-%d %H:%M} UTC — {mode} ({info['members']:,} members, "
        f"{info['ledger']:,} ledger entries, {info['purchases']:,} purchases seeded)"
    )
    seeded = info.get("seconds", {})
    lines = [
        title,
        "",
        *machine_lines(m),
        f"Load average (1/5/15 min) at the start {load_start}, at the end {loadavg()} "
        "(the machine may be shared: read ratios, which are measured side by side, before "
        "absolute figures).",
        f"Seeded with COPY in {seeded.get('total', '?')} s "
        f"({', '.join(f'{k} {v} s' for k, v in seeded.items() if k != 'total')}); "
        f"after the run: {counts[0]:,} members, {counts[1]:,} ledger entries, "
        f"{counts[2]:,} purchases. Git at the start: {git_start}"
        + ("." if _git() == git_start else f"; at the end: {_git()}."),
        "",
        table(rows),
        "",
        "Details:",
        "",
        *details,
        "",
    ]
    section = "\n".join(lines)
    print("\n" + section)
    if not args.no_write:
        write_results(section)
        log(f"written to {RESULTS.relative_to(ROOT)}")
    log(f"total {time.perf_counter() - _T0:.0f} s (seed {seed_t.seconds:.0f} s)")
    return 0


def _git() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "?"


_T0 = time.perf_counter()

if __name__ == "__main__":
    sys.exit(main())
