"""The HTTP measurements: gunicorn with the production settings, wrk as the load generator
(its own process, on 127.0.0.1), pgbench as the raw-PostgreSQL baseline."""

# ruff: noqa: S603, S607 - the benchmark starts its own tools

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from common import BENCH, PG, PY, ROOT, WORK, django_env, free_port, percentile


class Gunicorn:
    def __init__(
        self,
        db: str,
        workers: int,
        *,
        worker_class: str = "sync",
        threads: int = 1,
        settings: str | None = None,
    ):
        self.db, self.workers, self.settings = db, workers, settings
        self.worker_class, self.threads = worker_class, threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def __enter__(self):
        gunicorn = str(Path(PY).parent / "gunicorn")
        args = [
            gunicorn,
            "loyalty.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            "--threads",
            str(self.threads),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ]
        self.log = open(WORK / "gunicorn.log", "a")
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self._env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            self.__exit__()
            raise RuntimeError("gunicorn did not start; see bench/.work/gunicorn.log")
        # Every worker imports the app lazily: warm them all up.
        for _ in range(self.workers * 4):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + "/healthz", timeout=5).read()  # noqa: S310
        return self

    def _env(self) -> dict:
        env = django_env(self.db)
        if self.settings:  # e.g. the naive reference view's (bench/naive)
            env["DJANGO_SETTINGS_MODULE"] = self.settings
            env["PYTHONPATH"] = f"{BENCH}{os.pathsep}{env['PYTHONPATH']}"
        return env

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        )
        return [int(x) for x in out.stdout.split()]

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def wrk(url: str, script: str, *, connections: int, seconds: int, env: dict) -> dict:
    """One wrk run; returns throughput and latency percentiles in ms."""
    out = WORK / f"wrk-{script}-{connections}.json"
    out.unlink(missing_ok=True)
    threads = min(2, connections)
    e = dict(os.environ, BENCH_OUT=str(out), BENCH_LUA_DIR=str(BENCH / "wrk"), **env)
    e.setdefault("BENCH_RUN", f"{time.time_ns():x}")  # receipt ids unique per wrk run
    proc = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "wrk" / f"{script}.lua"),
            url,
        ],
        env=e,
        capture_output=True,
        text=True,
        check=False,
    )
    if not out.exists():
        raise RuntimeError(f"wrk failed: {proc.stdout}\n{proc.stderr}")
    r = json.loads(out.read_text())
    secs = r["duration_us"] / 1e6
    errors = r["status_errors"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {
        "connections": connections,
        "requests": r["requests"],
        "errors": errors,
        "rps": r["requests"] / secs,
        "p50": r["p50"] / 1000,
        "p95": r["p95"] / 1000,
        "p99": r["p99"] / 1000,
        "max": r["max"] / 1000,
        "seconds": secs,
    }


def pgbench(db: str, script: str, *, clients: int, seconds: int, minid: int, maxid: int) -> dict:
    """One pgbench run with a custom script; latencies from its per-transaction log."""
    logdir = WORK / "pgbench-log"
    logdir.mkdir(parents=True, exist_ok=True)
    for f in logdir.glob("*"):
        f.unlink()
    prefix = logdir / script
    proc = subprocess.run(
        [
            "pgbench",
            "-n",
            "-h",
            PG["host"],
            "-p",
            str(PG["port"]),
            "-U",
            PG["user"],
            "-c",
            str(clients),
            "-j",
            str(min(2, clients)),
            "-T",
            str(seconds),
            "-D",
            f"minid={minid}",
            "-D",
            f"maxid={maxid}",
            "-f",
            str(BENCH / "pgbench" / f"{script}.sql"),
            "-l",
            "--log-prefix",
            str(prefix),
            db,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed: {proc.stdout}\n{proc.stderr}")
    tps = float(re.search(r"tps = ([\d.]+)", proc.stdout).group(1))
    lat = []
    for f in logdir.glob(f"{script}*"):
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                lat.append(int(parts[2]) / 1000)
    return {
        "connections": clients,
        "requests": len(lat),
        "rps": tps,
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "p99": percentile(lat, 99),
        "max": max(lat) if lat else float("nan"),
    }


def profile(server: Gunicorn, script: str, *, connections: int, seconds: int, env: dict) -> dict:
    """py-spy over every gunicorn worker during a wrk run: the hottest functions, by own
    time and by time including callees (share of all samples)."""
    spy = Path(PY).parent / "py-spy"
    if not spy.exists():
        return {"error": "py-spy not installed in the venv"}
    raw = WORK / f"profile-{script}.txt"
    rec = subprocess.Popen(
        [
            str(spy),
            "record",
            "--format",
            "raw",
            "-o",
            str(raw),
            "-d",
            str(seconds),
            "-r",
            "200",
            "--subprocesses",
            "--idle",
            "-p",
            str(server.proc.pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    load = wrk(server.url, script, connections=connections, seconds=seconds - 2, env=env)
    _, err = rec.communicate(timeout=seconds + 60)
    if not raw.exists():
        return {"error": f"py-spy failed: {err[-500:]}"}
    own, incl = collections.Counter(), collections.Counter()
    total = 0
    idle = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        n = int(n)
        frames = stack.split(";")
        if any("wait (" in f or "select (" in f or "accept (" in f for f in frames[-2:]):
            idle += n
            continue
        total += n
        leaf = _frame(frames[-1])
        own[leaf] += n
        for f in {_frame(f) for f in frames}:
            incl[f] += n
    return {
        "load": load,
        "busy_samples": total,
        "idle_samples": idle,
        "own": [(f, round(100 * n / total, 1)) for f, n in own.most_common(25)] if total else [],
        "inclusive": [(f, round(100 * n / total, 1)) for f, n in incl.most_common(60)]
        if total
        else [],
    }


def _frame(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file path from site-packages or repo)"
    m = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not m:
        return frame
    func, path = m.groups()
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{func} ({path})"
