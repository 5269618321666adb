"""Drill D of `make drill`: the console on a streaming replica (loyalty/kernel/replica.py).

A real hot standby of the drill's private primary: `pg_basebackup -R` into a second
cluster on 127.0.0.1:5498 (statements logged, so each dashboard request's reads on the
replica are counted from its log). A second gunicorn serves the console with
DATABASE_REPLICA_URL pointing there; sales keep coming over HTTP to the first one (the
primary only) the whole time. Phases:

1. up: the dashboard (recomputed at every request, ?refresh=1) reads the replica;
2. behind: WAL replay paused on the replica while the sales go on; once it is more than
   CARAT_REPLICA_MAX_LAG_SECONDS behind, the dashboard reads the primary;
3. caught up: replay resumed; the replica serves again and holds every sale;
4. down: the replica stopped (`pg_ctl -m immediate`): the console falls back to the
   primary; nothing breaks (no 500, every sale recorded).
"""

from __future__ import annotations

import http.client
import re
import shutil
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

REPLICA_PORT = 5498
MAX_LAG = 2  # CARAT_REPLICA_MAX_LAG_SECONDS of the console in the drill
PHASES = (("up", 8), ("behind", 8), ("caught up", 6), ("down", 8))
CONSOLE_EMAIL = "drill-console@carat.example"
CONSOLE_PASSWORD = "drill-console-password-1"  # noqa: S105 - a throwaway private cluster


class Replica:
    """The second cluster: a base backup of the drill's primary, streaming from it."""

    def __init__(self, drill, run):
        self.drill, self.run = drill, run
        pg = drill.pg
        self.bin, self.user = pg.bin, pg.user
        self.data = drill.tmp / "pgreplica"
        self.sock = drill.tmp / "pgsock-replica"
        self.logfile = drill.tmp / "pgsock-replica" / "postgres.log"
        self.started = False

    def create(self, primary_port: int) -> None:
        for d in (self.data, self.sock):
            d.mkdir(mode=0o700)
            if self.user:
                shutil.chown(d, self.user, self.user)
        self.run(
            [self.bin / "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port),
             "-U", "postgres", "-D", self.data, "-R", "-X", "stream", "-c", "fast"],
            user=self.user,
        )  # fmt: skip

    def ctl(self, *args) -> str:
        opts = (
            f"-p {REPLICA_PORT} -k {self.sock} -c listen_addresses=127.0.0.1 "
            "-c log_statement=all -c log_timezone=UTC"
        )
        return self.run(
            [self.bin / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.logfile, "-w", *args],
            user=self.user,
            timeout=120,
        )

    def start(self) -> None:
        self.started = True
        self.ctl("start")

    def stop(self, mode: str = "fast") -> None:
        if self.started and (self.data / "postmaster.pid").exists():
            self.ctl("-m", mode, "stop")

    def sql(self, query: str, port: int = REPLICA_PORT) -> str:
        return self.run(
            [self.bin / "psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
             "-d", self.drill_db, "-Atc", query],
            user=self.user,
        ).strip()  # fmt: skip

    drill_db = "carat_drill"

    def log_size(self) -> int:
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def statements_since(self, offset: int) -> list[str]:
        """The statements the replica logged after `offset`."""
        with open(self.logfile, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        # A statement runs to the next log line (the lag check spans several lines).
        found = re.findall(r"LOG:  statement: (.*?)(?=\n\d{4}-\d\d-\d\d |\Z)", text, re.S)
        # Left out: the console's lag checks and the drill's own (lag, pause, counts).
        own = ("pg_is_in_recovery", "pg_last_wal_", "pg_wal_replay_", "count(*) FROM pos_purchase")
        return [s for s in found if not any(o in s for o in own)]


class Console:
    """A staff browser's session on the console over HTTP (login form, CSRF, cookies)."""

    def __init__(self, port: int):
        self.port, self.cookies = port, {}

    def _request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Host": "127.0.0.1", **(headers or {})}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read().decode(errors="replace")
            for k, v in r.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    self.cookies[name] = rest.split(";", 1)[0]
            return r.status, dict(r.getheaders()), data
        except (OSError, http.client.HTTPException) as exc:
            return None, {}, type(exc).__name__
        finally:
            conn.close()

    def login(self) -> int:
        _s, _h, page = self._request("GET", "/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token,
                "username": CONSOLE_EMAIL,
                "password": CONSOLE_PASSWORD,
                "next": "/admin/",
            }
        )
        status, _h, _b = self._request(
            "POST",
            "/admin/login/?next=/admin/",
            form,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        return status

    def dashboard(self):
        return self._request("GET", "/admin/?refresh=1")


def drill_d(drill, run, log, Proc, wait_for, free_port, primary_port) -> dict:
    res = {"name": "D — the console on a streaming replica", "checks": [], "counts": {}}
    check = res["checks"].append
    replica = Replica(drill, run)
    drill.replica = replica
    drill.manage("kpi_rollup")  # the dashboard reads the rollups (on the replica too)
    drill.manage("collectstatic", "--noinput")  # the console's pages, as on a deploy
    drill.manage(
        "createsuperuser",
        "--noinput",
        "--email",
        CONSOLE_EMAIL,
        env=drill.env(DJANGO_SUPERUSER_PASSWORD=CONSOLE_PASSWORD),
    )
    log(f"drill D: pg_basebackup of the primary into a replica on 127.0.0.1:{REPLICA_PORT}")
    replica.create(primary_port=primary_port)
    replica.start()
    streaming = replica.sql("SELECT state FROM pg_stat_replication", port=primary_port).splitlines()
    in_recovery = replica.sql("SELECT pg_is_in_recovery()")
    check(
        (
            "a real hot standby: pg_basebackup -R, streaming from the primary",
            streaming == ["streaming"] and in_recovery == "t",
            f"primary's pg_stat_replication: {streaming}; replica pg_is_in_recovery: {in_recovery}",
        )
    )
    port = free_port()
    env = drill.env(
        DATABASE_REPLICA_URL=f"postgres://postgres@127.0.0.1:{REPLICA_PORT}/{replica.drill_db}",
        CARAT_REPLICA_MAX_LAG_SECONDS=str(MAX_LAG),
        CARAT_REPLICA_CHECK_SECONDS="1",
    )
    web_log = drill.tmp / "console.log"
    console_web = Proc(
        "console gunicorn",
        [str(Path(sys.executable).parent / "gunicorn"), "loyalty.wsgi", "-b", f"127.0.0.1:{port}",
         "-w", "2", "--timeout", "30", "--access-logfile", "-", "--error-logfile", "-"],
        env,
        web_log,
    )  # fmt: skip
    drill.console_web = console_web
    console = Console(port)
    wait_for(lambda: console._request("GET", "/admin/login/")[0] == 200, 30, what="console")
    login = console.login()
    check(("staff sign in to the console (HTTP)", login == 302, f"POST /admin/login/ → {login}"))

    numbers = [m for m, _n in drill.members]
    stop = threading.Event()
    sales: list[tuple] = []
    counter = iter(range(10**9))

    def sell(tid):
        i = tid
        while not stop.is_set():
            i += 1
            receipt = f"DRILL-D-{drill.run_id}-{next(counter):05d}"
            status, _h, _b = drill.api.purchase(numbers[i % len(numbers)], receipt, timeout=15)
            sales.append((time.monotonic(), status))
            time.sleep(0.05)

    requests: list[dict] = []
    phase = {"name": "up"}

    def read():
        while not stop.is_set():
            offset = replica.log_size()
            t0 = time.monotonic()
            status, _h, body = console.dashboard()
            time.sleep(0.15)  # the replica's log is written by its backends: let it land
            stmts = replica.statements_since(offset)
            requests.append(
                {
                    "phase": phase["name"],
                    "t": t0,
                    "status": status if status is not None else f"conn:{body}",
                    "seconds": time.monotonic() - t0 - 0.15,
                    "replica_reads": len(stmts),
                    "replica_writes": sum(
                        bool(re.match(r"\s*(INSERT|UPDATE|DELETE)", s, re.I)) for s in stmts
                    ),
                    "dashboard": "Diamond Club dashboard" in body,
                }
            )

    threads = [threading.Thread(target=sell, args=(t,)) for t in range(2)]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    lag_seen, counts = [], res["counts"]
    try:
        for name, seconds in PHASES:
            phase["name"] = name
            log(f"drill D: phase {name}")
            if name == "behind":
                replica.sql("SELECT pg_wal_replay_pause()")
            elif name == "caught up":
                replica.sql("SELECT pg_wal_replay_resume()")
            elif name == "down":
                replica.stop("immediate")
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if name == "behind":
                    lag_seen.append(float(replica.sql(_LAG) or 0))
                time.sleep(0.5)
            if name == "caught up":
                # Every sale the primary holds now is on the replica moments later (the
                # sales go on meanwhile, so the replica may hold a few more).
                count = "SELECT count(*) FROM pos_purchase"
                on_primary = int(replica.sql(count, port=primary_port))
                t0 = time.monotonic()
                while int(replica.sql(count)) < on_primary and time.monotonic() - t0 < 10:
                    time.sleep(0.1)
                counts["purchases_primary_vs_replica_after_catch_up"] = [
                    on_primary,
                    int(replica.sql(count)),
                ]
                counts["replica_caught_up_after_s"] = round(time.monotonic() - t0, 2)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    by_phase: dict[str, list[dict]] = {
        n: [r for r in requests if r["phase"] == n] for n, _ in PHASES
    }
    statuses = Counter(str(s) for _t, s in sales)
    counts["sales_http_status"] = dict(statuses)
    counts["console_requests_per_phase"] = {n: len(rs) for n, rs in by_phase.items()}
    counts["console_http_status"] = dict(Counter(str(r["status"]) for r in requests))
    counts["replica_reads_per_request"] = {
        n: [r["replica_reads"] for r in rs] for n, rs in by_phase.items() if n != "down"
    }
    counts["console_seconds_per_request_median"] = {
        n: round(sorted(r["seconds"] for r in rs)[len(rs) // 2], 3)
        for n, rs in by_phase.items()
        if rs
    }
    counts["replica_lag_seen_while_paused_s"] = round(max(lag_seen or [0]), 1)
    tracebacks = "Traceback" in web_log.read_text(errors="replace")
    check(("every sale recorded while the replica came and went", set(statuses) == {"201"},
           f"{sum(statuses.values())} sales: {dict(statuses)}"))  # fmt: skip
    check(("every console request answered 200 with the dashboard, in every phase",
           all(r["status"] == 200 and r["dashboard"] for r in requests) and not tracebacks,
           f"{len(requests)} requests: {counts['console_http_status']}; tracebacks in the "
           f"console log: {tracebacks}"))  # fmt: skip
    up = by_phase["up"][1:]  # the first may start before the first check
    check(("replica up: the dashboard is read from the replica",
           bool(up) and all(r["replica_reads"] >= 10 for r in up),
           f"statements on the replica per request: {[r['replica_reads'] for r in up]}"))  # fmt: skip
    late = [r for r in by_phase["behind"] if r["t"] > by_phase["behind"][0]["t"] + MAX_LAG + 2]
    check(("replica behind by more than the limit: the dashboard reads the primary",
           max(lag_seen or [0]) > MAX_LAG and bool(late)
           and all(r["replica_reads"] == 0 for r in late),
           f"lag seen on the replica up to {counts['replica_lag_seen_while_paused_s']} s "
           f"(limit {MAX_LAG} s); replica statements per request once behind: "
           f"{[r['replica_reads'] for r in late]}"))  # fmt: skip
    caught = by_phase["caught up"][2:]
    p, r = counts.get("purchases_primary_vs_replica_after_catch_up", [None, None])
    check(("caught up: every sale is on the replica and the dashboard reads it again",
           p is not None and r >= p and bool(caught) and caught[-1]["replica_reads"] >= 10,
           f"purchases on the primary {p}, on the replica moments later {r} (at least as "
           f"many); statements on the replica per request: "
           f"{[x['replica_reads'] for x in caught]}"))  # fmt: skip
    down = by_phase["down"]
    check(("replica stopped mid-run: the console falls back to the primary",
           bool(down) and all(x["status"] == 200 for x in down),
           f"{len(down)} requests after the stop, all 200; median "
           f"{counts['console_seconds_per_request_median'].get('down')} s"))  # fmt: skip
    writes = sum(x["replica_writes"] for x in requests)
    check(("writes never go to the replica", writes == 0,
           f"{writes} INSERT/UPDATE/DELETE statements in the replica's log"))  # fmt: skip
    res["injected"] = (
        f"a streaming replica (pg_basebackup -R) on port {REPLICA_PORT}; the console served "
        f"by a second gunicorn with DATABASE_REPLICA_URL (max lag {MAX_LAG} s, checked every "
        "1 s) while 2 threads POSTed sales to the primary's; phases "
        + ", ".join(f"{n} {s} s" for n, s in PHASES)
        + " (behind: pg_wal_replay_pause(); down: pg_ctl -m immediate stop)"
    )
    return res


_LAG = """SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                 ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"""
