"""Shared helpers of the benchmark: paths, connections, the environment of the Django
processes it starts, timing and the machine's description."""

# ruff: noqa: S603 - the benchmark starts its own tools (manage.py, psql, wrk, pgbench)

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
PY = sys.executable
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_DB = 3


def dsn(db: str) -> str:
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{db}"


def connect(db: str, **kwargs):
    import psycopg

    return psycopg.connect(dsn(db), **kwargs)


def django_env(db: str, *, debug: bool = False, **extra) -> dict:
    """The environment of a Django process against the bench database: production
    settings (DEBUG off, secrets set, Redis cache and broker), plain HTTP allowed."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_DEBUG": "true" if debug else "false",
            "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DATABASE_URL": dsn(db),
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "CACHE_URL": f"rediscache://127.0.0.1:6379/{REDIS_DB}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CARAT_API_RATE": "1000000/min",
            "CARAT_LOOKUP_RATE": "1000000/min",
            "EMAIL_URL": "consolemail://",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def manage(db: str, *args: str, debug: bool = False, check: bool = True, **extra):
    return subprocess.run(
        [PY, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=django_env(db, debug=debug, **extra),
        capture_output=True,
        text=True,
        check=check,
    )


def django_task(db: str, task: str, *args: str, timeout: float = 3600) -> dict:
    """Run one measurement of bench/django_tasks.py in a fresh process; it prints JSON."""
    proc = subprocess.run(
        [PY, str(BENCH / "django_tasks.py"), task, *args],
        cwd=ROOT,
        env=django_env(db),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"django task {task} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_seconds_by_group() -> dict[str, float]:
    """User + system CPU seconds of the processes on this machine, grouped: gunicorn
    (the web workers), postgres (backends and helpers) and clients (the load generators
    this process ran). Differences of two snapshots around a load run tell where the CPU
    went."""
    tick = os.sysconf("SC_CLK_TCK")
    groups: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if comm.startswith("postgres"):
            # + the CPU of exited children the postmaster has reaped (pgbench's backends
            # are gone by the time the run ends)
            group, seconds = "postgres", seconds + (int(fields[13]) + int(fields[14])) / tick
        elif "gunicorn" in cmd:
            group = "gunicorn"
        else:
            continue
        groups[group] = groups.get(group, 0.0) + seconds
    # The load generators (wrk, pgbench) are this process's children, waited for.
    times = os.times()
    groups["clients"] = times.children_user + times.children_system
    return groups


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    pg = "?"
    settings = {}
    try:
        with connect("postgres") as conn:
            pg = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
            for name in (
                "shared_buffers",
                "work_mem",
                "max_connections",
                "synchronous_commit",
                "max_wal_size",
                "autovacuum",
            ):
                settings[name] = conn.execute(f"SHOW {name}").fetchone()[0]
    except Exception as exc:
        pg = f"? ({exc})"
    tools = {}
    for tool, args in (("wrk", ["wrk", "--version"]), ("pgbench", ["pgbench", "--version"])):
        try:
            out = subprocess.run(args, capture_output=True, text=True, check=False)
            tools[tool] = (out.stdout or out.stderr).strip().splitlines()[0]
        except OSError:
            tools[tool] = "missing"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": ram,
        "kernel": platform.release(),
        "postgresql": pg,
        "pg_settings": settings,
        "python": platform.python_version(),
        "tools": tools,
    }
