"""`make drill`: scripted fault drills against PRIVATE PostgreSQL and Redis instances.

A  broker (Redis) down: sales still record, their webhooks go out once Redis is back.
B  worker killed (kill -9) in the middle of a send batch: every mail goes out, once.
C  PostgreSQL restarted (pg_ctl restart -m fast) under load: 503 + Retry-After, never 500,
   and the service recovers by itself.
D  the console on a streaming replica (drills/replica_drill.py): a real hot standby on
   127.0.0.1:5498 (pg_basebackup); the dashboard reads it, falls back to the primary when
   it is behind and when it is stopped mid-run, while sales go on.

`python drills/run.py --only D` runs one drill (or several: --only A,D).

It never touches the machine's shared PostgreSQL (5432) or Redis (6379): it starts its
own cluster on 127.0.0.1:5499 and its own Redis on 127.0.0.1:6391 in a temporary
directory, and stops them at the end (also on failure). The results are written on top of
drills/results.md (older runs are kept); the logs of the last run go to drills/last-run/.
"""

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DRILLS = Path(__file__).resolve().parent
ROOT = DRILLS.parent
PY = sys.executable
BIN = Path(PY).parent
PG_PORT = 5499
REDIS_PORT = 6391
DB_NAME = "carat_drill"
RESULTS = DRILLS / "results.md"
LAST_RUN = DRILLS / "last-run"

N_SALES = 30  # drill A
N_BIRTHDAYS = 300  # drill B
LOAD_SECONDS = 20  # drill C
RESTART_AT = 7  # drill C: seconds into the load
LOAD_THREADS = 6
SENDING_TIMEOUT = 5  # drill B: CARAT_SENDING_TIMEOUT_SECONDS

T0 = time.monotonic()
_log_lines: list[str] = []


def log(msg: str) -> None:
    line = f"[{time.monotonic() - T0:7.1f}s] {msg}"
    print(line, flush=True)
    _log_lines.append(line)


class DrillError(Exception):
    pass


# --- helpers: ports, processes ------------------------------------------------------------


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port (a connect test: TIME_WAIT does not count)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise DrillError(f"timed out after {timeout:.0f}s waiting for {what}")


def run(cmd, *, env=None, user=None, timeout=600, check=True, cwd=ROOT) -> str:
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    p = subprocess.run(  # noqa: S603 - our own commands, no shell
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and p.returncode != 0:
        raise DrillError(
            f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
        )
    return p.stdout


class Proc:
    """A background process in its own process group (so we can stop exactly it and its
    children, by id)."""

    def __init__(self, name: str, cmd: list[str], env: dict, logfile: Path):
        self.name, self.logfile = name, logfile
        self.fh = open(logfile, "ab")  # noqa: SIM115
        self.fh.write(f"\n===== {datetime.now(UTC).isoformat()} start {name}\n".encode())
        self.fh.flush()
        self.p = subprocess.Popen(  # noqa: S603 - our own commands, no shell
            cmd, env=env, cwd=ROOT, stdout=self.fh, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pgid = self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.p.wait(timeout=10)
        if not self.fh.closed:
            self.fh.close()

    def stop(self, timeout: float = 20) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.pgid, signal.SIGTERM)
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
            except ProcessLookupError:
                pass
        # Children that outlived the parent (same group): end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGKILL)
        if not self.fh.closed:
            self.fh.close()


# --- private PostgreSQL and Redis ---------------------------------------------------------


class PrivatePostgres:
    def __init__(self, tmp: Path):
        versions = sorted(
            (p for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")),
            key=lambda p: int(p.parent.parent.name),
        )
        if not versions:
            raise DrillError("no PostgreSQL binaries under /usr/lib/postgresql")
        self.bin = versions[-1].parent
        self.version = self.bin.parent.name
        self.data = tmp / "pgdata"
        self.sock = tmp / "pgsock"
        self.logfile = tmp / "pgsock" / "postgres.log"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.opts = (
            f"-p {PG_PORT} -k {self.sock} -c listen_addresses=127.0.0.1 -c max_connections=100"
        )
        self.started = False

    def _chown(self, path: Path) -> None:
        if self.user:
            shutil.chown(path, self.user, self.user)

    def init(self) -> None:
        self.data.mkdir(mode=0o700)
        self.sock.mkdir()
        self._chown(self.data)
        self._chown(self.sock)
        run(
            [self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            user=self.user,
        )

    def ctl(self, *args, timeout=120) -> str:
        return run(
            [
                self.bin / "pg_ctl",
                "-D",
                self.data,
                "-o",
                self.opts,
                "-l",
                self.logfile,
                "-w",
                *args,
            ],
            user=self.user,
            timeout=timeout,
        )

    def start(self) -> None:
        self.started = True
        self.ctl("start")

    def restart_fast(self) -> None:
        self.ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if not self.started or not (self.data / "postmaster.pid").exists():
            return
        try:
            self.ctl("-m", "fast", "stop", timeout=60)
        except Exception:
            self.ctl("-m", "immediate", "stop", timeout=60)


class PrivateRedis:
    def __init__(self, tmp: Path):
        self.dir = tmp / "redis"
        self.dir.mkdir()
        self.pidfile = self.dir / "redis.pid"
        self.logfile = self.dir / "redis.log"
        self.version = run(["redis-server", "--version"]).strip()

    def start(self) -> None:
        if not port_free(REDIS_PORT):
            raise DrillError(f"port {REDIS_PORT} is in use: not starting a second Redis there")
        run(
            [
                "redis-server",
                "--port", str(REDIS_PORT),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "yes",
                "--pidfile", str(self.pidfile),
                "--logfile", str(self.logfile),
                "--dir", str(self.dir),
            ]
        )  # fmt: skip
        wait_for(self.ping, 10, what="private Redis")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return

        def gone():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        try:
            wait_for(gone, 10, what="private Redis to stop")
        except DrillError:
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def llen(self, key: str = "celery") -> int:
        out = run(["redis-cli", "-p", str(REDIS_PORT), "-n", "0", "llen", key], check=False)
        try:
            return int(out.strip())
        except ValueError:
            return -1


# --- webhook receiver -------------------------------------------------------------------


class Receiver:
    """Records every webhook it gets (event id, type, signature check)."""

    def __init__(self, secret: str):
        self.secret = secret
        self.lock = threading.Lock()
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                header = self.headers.get("X-Carat-Signature", "")
                try:
                    parts = dict(p.split("=", 1) for p in header.split(","))
                    mac = hmac.new(
                        receiver.secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256
                    )
                    signed = hmac.compare_digest(mac.hexdigest(), parts["v1"])
                except (KeyError, ValueError):
                    signed = False
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                with receiver.lock:
                    receiver.received.append(
                        {
                            "id": payload.get("id"),
                            "type": payload.get("type"),
                            "signed": signed,
                            "at": time.monotonic(),
                        }
                    )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def counts(self) -> Counter:
        with self.lock:
            return Counter(r["id"] for r in self.received)

    def unsigned(self) -> int:
        with self.lock:
            return sum(not r["signed"] for r in self.received)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- HTTP client ------------------------------------------------------------------------


class Api:
    def __init__(self, port: int, key: str):
        self.port, self.key = port, key

    def request(self, method: str, path: str, body: dict | None = None, headers=None, timeout=15):
        """(status, headers, body text); status is None on a connection error, with the
        exception's class name as the body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Authorization": f"Api-Key {self.key}", "Host": "127.0.0.1"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode(errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            return None, {}, type(exc).__name__
        finally:
            conn.close()

    def purchase(self, member: str, receipt: str, amount: str = "120.00", **kw):
        body = {
            "member": member,
            "store": "antwerp",
            "receipt_id": receipt,
            "amount": amount,
            "currency": "EUR",
        }
        return self.request("POST", "/api/v1/purchases/", body, **kw)

    def lookup(self, number: str, **kw):
        return self.request("GET", f"/api/v1/members/lookup/?code={number}", **kw)


# --- the drill run ----------------------------------------------------------------------


class Drill:
    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="carat-drill-"))
        os.chmod(self.tmp, 0o755)  # noqa: S103 - the postgres user must traverse it
        self.run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        self.pg = PrivatePostgres(self.tmp)
        self.redis = PrivateRedis(self.tmp)
        self.receiver: Receiver | None = None
        self.web: Proc | None = None
        self.worker: Proc | None = None
        self.web_port = free_port()
        self.mail_dir = self.tmp / "mail"
        self.mail_b_dir = self.tmp / "mail-b"
        self.secret = "drill-webhook-secret-" + self.run_id
        self.results: dict[str, dict] = {}
        self.findings: list[str] = []
        self.setup_notes: list[str] = []
        self.api: Api | None = None

    # environment ---------------------------------------------------------------------
    def env(self, **extra) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "CARAT_", "CELERY_", "EMAIL_", "PG"))
            and k not in {"DATABASE_URL", "CACHE_URL"}
        }
        env.update(
            {
                "PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
                "PYTHONPATH": f"{ROOT}:{DRILLS}",
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SETTINGS_MODULE": "loyalty.settings",
                "DJANGO_DEBUG": "false",
                "DJANGO_SECRET_KEY": "drill-" + hashlib.sha256(self.run_id.encode()).hexdigest(),
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DJANGO_SECURE_SSL_REDIRECT": "false",
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:{PG_PORT}/{DB_NAME}",
                "CELERY_BROKER_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
                "CACHE_URL": f"rediscache://127.0.0.1:{REDIS_PORT}/1",
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": str(self.mail_dir),
                # With DJANGO_DEBUG=false, settings.py takes the backend from EMAIL_URL.
                "EMAIL_URL": f"filemail:///{self.mail_dir}",
                "CARAT_API_RATE": "1000000/min",
                "CARAT_LOOKUP_RATE": "1000000/min",
                "CARAT_SITE_URL": "http://127.0.0.1",
                # The drill's webhook receiver listens on plain http on 127.0.0.1, which
                # production refuses unless allowed (loyalty.kernel.outbound).
                "CARAT_WEBHOOK_ALLOW_HTTP": "true",
                "CARAT_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
            }
        )
        env.update(extra)
        return env

    def manage(self, *args, env=None, timeout=600) -> str:
        return run([PY, "manage.py", *args], env=env or self.env(), timeout=timeout)

    def ops(self, name: str, args: dict | None = None, env=None, timeout=300) -> dict:
        out = run(
            [PY, str(DRILLS / "ops.py"), name, json.dumps(args or {})],
            env=env or self.env(),
            timeout=timeout,
        )
        for line in out.splitlines():
            if line.startswith("DRILL-RESULT "):
                return json.loads(line[len("DRILL-RESULT ") :])
        raise DrillError(f"ops {name}: no result in output:\n{out}")

    # processes -----------------------------------------------------------------------
    def start_web(self) -> None:
        self.web = Proc(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "loyalty.wsgi",
                "-b",
                f"127.0.0.1:{self.web_port}",
                "-w",
                "2",
                "--timeout",
                "30",
                "--access-logfile",
                "-",
                "--error-logfile",
                "-",
            ],
            self.env(),
            self.tmp / "gunicorn.log",
        )
        wait_for(
            lambda: Api(self.web_port, "x").request("GET", "/api/v1/members/lookup/?code=1")[0],
            30,
            what="gunicorn",
        )

    def start_worker(self, env: dict, label: str = "worker") -> None:
        logfile = self.tmp / "worker.log"
        start = logfile.stat().st_size if logfile.exists() else 0
        self.worker = Proc(
            label,
            [
                str(BIN / "celery"),
                "-A",
                "loyalty",
                "worker",
                "-c",
                "2",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
                "-n",
                f"drill-{label}@%h",
            ],
            env,
            logfile,
        )

        def ready():
            if not self.worker.alive():
                raise DrillError(f"the Celery worker exited: see {logfile}")
            with open(logfile, "rb") as f:
                f.seek(start)
                return b" ready." in f.read()

        wait_for(ready, 60, what="the Celery worker")

    # setup ---------------------------------------------------------------------------
    def setup(self) -> None:
        if not port_free(PG_PORT):
            raise DrillError(f"port {PG_PORT} is in use: not starting a second cluster there")
        log(f"tmp dir {self.tmp}")
        log(f"private PostgreSQL {self.pg.version} on 127.0.0.1:{PG_PORT}")
        self.pg.init()
        self.pg.start()
        run(
            [self.pg.bin / "psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres",
             "-c", f"CREATE DATABASE {DB_NAME}"],
            user=self.pg.user,
        )  # fmt: skip
        log(f"private Redis on 127.0.0.1:{REDIS_PORT}")
        self.redis.start()
        self.mail_dir.mkdir()

        t = time.monotonic()
        self.manage("migrate", "--noinput")
        log(f"migrate: {time.monotonic() - t:.1f}s")
        t = time.monotonic()
        debug = self.env(DJANGO_DEBUG="true")
        self.manage("loaddemo", "--members", "50", env=debug)
        # Drill B needs 300 members with a birthday: loaddemo adds the missing ones (it is
        # idempotent); done now, before the webhook endpoint exists, to keep drill A clean.
        self.manage("loaddemo", "--members", str(N_BIRTHDAYS), env=debug)
        log(f"loaddemo --members 50, then --members {N_BIRTHDAYS}: {time.monotonic() - t:.1f}s")
        key = self.manage("create_api_key", "--name", "drill", "--store", "antwerp").strip()
        key = key.splitlines()[-1].strip()

        info = self.ops("info")
        self.info = info
        log(f"effective settings: {json.dumps(info)}")
        # Is EMAIL_BACKEND honoured in production mode (without EMAIL_URL)?
        env = self.env(EMAIL_BACKEND="slowmail.EmailBackend")
        env.pop("EMAIL_URL")
        alone = self.ops("info", env=env)["EMAIL_BACKEND"]
        self.email_backend_ignored = alone != "slowmail.EmailBackend"
        if self.email_backend_ignored:
            self.findings.append(
                "loyalty/settings.py ignores EMAIL_BACKEND when DJANGO_DEBUG=false: "
                "`vars().update(env.email_url('EMAIL_URL', default='smtp://localhost:25'))` "
                "overwrites it (EMAIL_BACKEND=slowmail.EmailBackend without EMAIL_URL gives "
                f"{alone}). The drills set EMAIL_URL=filemail://... instead, and drill B's "
                "worker uses drills/drill_settings.py to honour EMAIL_BACKEND for the slow "
                "backend. Fix: apply the EMAIL_URL dict first and then "
                "`EMAIL_BACKEND = env('EMAIL_BACKEND', default=<the URL's backend>)` (the same "
                "for EMAIL_FILE_PATH, whose default currently overrides a filemail:// path)."
            )
        self.receiver = Receiver(self.secret)
        self.ops(
            "webhook_setup",
            {"url": f"http://127.0.0.1:{self.receiver.port}/hook", "secret": self.secret},
        )
        log(f"webhook receiver on 127.0.0.1:{self.receiver.port}")
        self.start_web()
        self.api = Api(self.web_port, key)
        log(f"gunicorn on 127.0.0.1:{self.web_port} (2 workers)")
        self.start_worker(self.env())
        log("celery worker ready (-c 2)")
        self.members = self.ops("members")["members"]
        log(f"{len(self.members)} members in the private database")

    def wait_idle(self, timeout=120) -> None:
        """Until the broker queue is empty and every webhook delivery is done."""

        def idle():
            d = self.ops("deliveries")["deliveries"]
            pending = d.get("pending", 0) + d.get("sending", 0)
            return self.redis.llen() == 0 and pending == 0

        wait_for(idle, timeout, interval=1, what="an idle queue")

    # drill A -------------------------------------------------------------------------
    def drill_a(self) -> dict:
        res = {"name": "A — broker (Redis) down", "checks": [], "counts": {}}
        injected = (
            f"private Redis stopped (SIGTERM, no persistence); {N_SALES} sales POSTed over HTTP "
            "while it was down; Redis started again (empty); `loyalty.outbox_flush` run as "
            "beat would run it (after the 30 s age threshold)"
        )
        res["injected"] = injected
        candidates = [m for m, today in self.members if today <= 2]
        random.Random(1).shuffle(candidates)
        chosen = candidates[:N_SALES]
        if len(candidates) < N_SALES + 5:
            raise DrillError("not enough members for drill A")
        # Baseline: the same sale with Redis up (other members).
        base = []
        for i, member in enumerate(candidates[N_SALES : N_SALES + 5]):
            t = time.monotonic()
            self.api.purchase(member, f"DRILL-A-{self.run_id}-base-{i}")
            base.append(time.monotonic() - t)
        log("drill A: waiting for an idle queue")
        self.wait_idle()
        marks = self.ops("marks")

        web_log = self.tmp / "gunicorn.log"
        log_offset = web_log.stat().st_size
        log("drill A: stopping the private Redis")
        self.redis.stop()
        res["counts"]["redis_down"] = not self.redis.ping()
        statuses, latencies, bodies = Counter(), [], []
        receipts = []
        down_at = time.monotonic()
        for i, member in enumerate(chosen):
            receipt = f"DRILL-A-{self.run_id}-{i:02d}"
            t = time.monotonic()
            status, _h, body = self.api.purchase(member, receipt, timeout=60)
            latencies.append(time.monotonic() - t)
            statuses[status] += 1
            receipts.append(receipt)
            last_sale_at = time.monotonic()
            if status != 201:
                bodies.append(f"{status}: {body[:300]}")
        # Side probes with the cache (Redis) down as well.
        probe = {}
        s, _h, b = self.api.lookup(chosen[0])
        probe["GET /api/v1/members/lookup/"] = s
        s, _h, b = self.api.request(
            "POST",
            "/api/v1/members/",
            {"email": f"drill-a-{self.run_id}@example.com", "first_name": "Drill"},
            headers={"Idempotency-Key": f"drill-a-{self.run_id}"},
            timeout=60,
        )
        probe["POST /api/v1/members/ with Idempotency-Key"] = s
        if s not in (200, 201):
            time.sleep(0.5)
            tbs = extract_tracebacks(web_log.read_bytes()[log_offset:].decode(errors="replace"))
            res["tracebacks"] = tbs[:2]
            last = tbs[-1].strip().splitlines()[-1] if tbs else b[:200]
            self.findings.append(
                "With Redis (the cache) down, POST /api/v1/members/ with an Idempotency-Key "
                f"answers {s}: pos/api.py idempotent() calls cache.add/get/set without a "
                "fallback. Fix: catch the cache error there and run the handler without "
                "replay protection (the database's unique e-mail still prevents doubles), "
                f"or answer 503 + Retry-After. Error: {last}"
            )
        res["counts"]["probes_while_down"] = probe
        outbox = self.ops("outbox_state", {"since": marks["outbox"]})
        worker_alive = self.worker.alive()
        res["counts"].update(
            {
                "sales_posted": N_SALES,
                "http_status": dict((str(k), v) for k, v in statuses.items()),
                "latency_s_mean_with_redis_up": round(sum(base) / len(base), 3),
                "latency_s_mean": round(sum(latencies) / len(latencies), 3),
                "latency_s_max": round(max(latencies), 3),
                "outbox_rows_written_while_down": outbox["total"],
                "outbox_unpublished_while_down": outbox["unpublished"],
                "outbox_publish_attempted": outbox["unpublished_attempted"],
                "outbox_sample_error": outbox["sample_error"],
                "worker_alive_while_down": worker_alive,
            }
        )
        log(f"drill A: sales while Redis down: {dict(statuses)}; outbox {outbox}")
        res["checks"].append(
            ("every sale recorded (201) with Redis down", statuses.get(201, 0) == N_SALES,
             f"{statuses.get(201, 0)}/{N_SALES} x 201" + (f"; others: {bodies[:3]}" if bodies else ""))
        )  # fmt: skip
        res["checks"].append(
            (
                "tasks kept in the outbox, unpublished, while the broker is down",
                outbox["total"] > 0 and outbox["unpublished"] == outbox["total"],
                f"{outbox['unpublished']}/{outbox['total']} OutboxTask rows unpublished "
                f"({outbox['by_task']})",
            )
        )
        res["checks"].append(
            (
                "side probes: no 500 from the API while Redis (cache too) is down",
                all(v is not None and v < 500 for v in probe.values()),
                ", ".join(f"{k} → {v}" for k, v in probe.items()),
            )
        )
        mean_down, mean_up = sum(latencies) / len(latencies), sum(base) / len(base)
        if mean_down > 1.0:
            per_sale = outbox["total"] / max(1, statuses.get(201, 0))
            self.findings.append(
                f"With the broker down a sale takes {mean_down:.2f} s on average (max "
                f"{max(latencies):.2f} s) instead of {mean_up:.2f} s: every OutboxTask row "
                f"({per_sale:.1f} per sale here, one `loyalty.deliver_webhooks` per emitted "
                "event) is published after commit inside the request, and each failing "
                "apply_async blocks ~0.6 s in kombu's default publish retry policy. Fix in "
                "loyalty/kernel/outbox.py publish(): `apply_async(args=row.args, "
                'retry_policy={"max_retries": 0})` (measured: a failing publish then takes '
                "~2-10 ms; the outbox is the retry), and/or enqueue one deliver_webhooks per "
                "transaction in loyalty/kernel/webhooks.py emit(). Note `retry=False` is worse (~6 s: "
                "redis-py's own reconnect backoff)."
            )
        events_db = self.ops("events", {"since": marks["event"]})
        log(f"drill A: {len(events_db['events'])} webhook events written while down")

        log("drill A: starting the private Redis again")
        self.redis.start()
        res["counts"]["redis_down_seconds"] = round(time.monotonic() - down_at, 1)
        # Beat's outbox_flush publishes rows older than 30 s: wait for that age, then run it.
        wait_s = max(0.0, 31 - (time.monotonic() - last_sale_at))
        time.sleep(wait_s)
        flushed = self.ops("flush")["published"]
        log(f"drill A: outbox_flush published {flushed}")
        res["counts"]["outbox_flush_published"] = flushed
        expected = {e["id"] for e in events_db["events"]}
        t_flush = time.monotonic()

        def all_received():
            got = self.receiver.counts()
            return expected.issubset(got.keys())

        try:
            wait_for(all_received, 180, interval=0.5, what="all webhook events")
            res["counts"]["seconds_to_all_events_after_flush"] = round(
                time.monotonic() - t_flush, 1
            )
        except DrillError as exc:
            res["counts"]["wait_error"] = str(exc)
        time.sleep(3)  # let late duplicates, if any, arrive
        got = self.receiver.counts()
        missing = expected - got.keys()
        dupes = {i: n for i, n in got.items() if i in expected and n > 1}
        purchases = self.ops("purchases", {"receipts": receipts})["purchases"]
        ev_by_receipt = defaultdict(list)
        for e in events_db["events"]:
            if e["type"] == "purchase.recorded":
                ev_by_receipt[e["receipt_id"]].append(e["id"])
            elif e["type"] == "carats.changed" and (e["key"] or "").startswith("purchase:"):
                ev_by_receipt["key:" + e["key"]].append(e["id"])
        sale_missing = []
        carats_expected = 0
        for r in receipts:
            p = purchases.get(r)
            if p is None:
                sale_missing.append(f"{r}: no purchase in the database")
                continue
            ids = ev_by_receipt.get(r, [])
            if len(ids) != 1 or ids[0] not in got:
                sale_missing.append(f"{r}: purchase.recorded not received")
            if p["status"] == "credited" and p["carats"] > 0:
                carats_expected += 1
                ids = ev_by_receipt.get(f"key:purchase:{p['pk']}", [])
                if len(ids) != 1 or ids[0] not in got:
                    sale_missing.append(f"{r}: carats.changed not received")
        outbox_after = self.ops("outbox_state", {"since": marks["outbox"]})
        deliveries = self.ops("events", {"since": marks["event"]})["deliveries"]
        types = Counter(e["type"] for e in events_db["events"])
        res["counts"].update(
            {
                "events_written": len(expected),
                "events_by_type": dict(types),
                "events_received_unique": len(expected & got.keys()),
                "events_received_total": sum(n for i, n in got.items() if i in expected),
                "duplicates": sum(n - 1 for n in dupes.values()),
                "missing": len(missing),
                "unsigned_or_bad_signature": self.receiver.unsigned(),
                "sales_with_carats_changed_expected": carats_expected,
                "outbox_unpublished_after": outbox_after["unpublished"],
                "deliveries_after": deliveries,
            }
        )
        res["checks"].append(
            (
                "every sale's purchase.recorded and carats.changed arrived",
                not sale_missing,
                f"{N_SALES} purchase.recorded + {carats_expected} carats.changed expected; "
                + ("missing: " + "; ".join(sale_missing[:5]) if sale_missing else "all received"),
            )
        )
        res["checks"].append(
            (
                "every event written while down was delivered (nothing lost)",
                not missing,
                f"{len(expected & got.keys())}/{len(expected)} unique event ids received",
            )
        )
        res["checks"].append(
            (
                "each event id received exactly once",
                not dupes,
                f"{sum(n - 1 for n in dupes.values())} duplicate deliveries"
                + (f" ({list(dupes.items())[:3]})" if dupes else ""),
            )
        )
        res["checks"].append(
            (
                "outbox empty afterwards, deliveries all 'delivered'",
                outbox_after["unpublished"] == 0 and set(deliveries) <= {"delivered"},
                f"unpublished {outbox_after['unpublished']}, deliveries {deliveries}",
            )
        )
        res["checks"].append(
            ("webhook signatures valid", self.receiver.unsigned() == 0,
             f"{self.receiver.unsigned()} bad signatures")
        )  # fmt: skip
        return res

    # drill B -------------------------------------------------------------------------
    def mail_ids(self) -> Counter:
        ids = Counter()
        for f in self.mail_b_dir.glob("*.eml"):
            m = re.search(rb"^Message-ID:\s*(<[^>]+>)", f.read_bytes(), re.M | re.I)
            ids[m.group(1).decode() if m else f"<no-id:{f.name}>"] += 1
        return ids

    def drill_b(self) -> dict:
        res = {
            "name": "B — worker killed (kill -9) in the middle of a send batch",
            "checks": [],
            "counts": {},
        }
        log("drill B: waiting for an idle queue")
        self.wait_idle()
        setup = self.ops("birthday_setup", {"n": N_BIRTHDAYS})
        log(f"drill B: {setup}")
        env = self.env(
            EMAIL_BACKEND="slowmail.EmailBackend",
            DRILL_MAIL_DIR=str(self.mail_b_dir),
            DRILL_MAIL_DELAY_MS="20",
            CARAT_SENDING_TIMEOUT_SECONDS=str(SENDING_TIMEOUT),
        )
        env.pop("EMAIL_URL")
        if self.email_backend_ignored:
            env["DJANGO_SETTINGS_MODULE"] = "drill_settings"
        backend = self.ops("info", env=env)["EMAIL_BACKEND"]
        if backend != "slowmail.EmailBackend":
            raise DrillError(f"drill B: the worker would send with {backend}, not the slow backend")
        self.worker.stop()
        self.start_worker(env, "worker-b")
        log("drill B: worker restarted with the slow mail backend (20 ms/mail), timeout 5 s")

        before = self.ops("messages")["rows"]
        sent_before = {pk for pk, (st, _a, _t) in before.items() if st == "sent"}
        t = time.monotonic()
        report = self.ops("select_dispatch", env=env)
        log(f"drill B: triggers_select + messages_dispatch: {report} ({time.monotonic() - t:.1f}s)")
        with contextlib.suppress(DrillError):
            wait_for(
                lambda: any(self.mail_b_dir.glob("*.eml")), 30, interval=0.05, what="first mail"
            )
        time.sleep(1.0)
        self.worker.kill9()
        kill_at = time.monotonic()
        before_kill = sum(self.mail_ids().values())
        log(
            f"drill B: kill -9 of the worker's process group (pgid {self.worker.pgid}); "
            f"{before_kill} mails written before the kill"
        )
        at_kill = self.ops("messages")["rows"]
        # The rows this drill sends: every row the dispatch moved on (queued), not sent before.
        in_play = {
            pk
            for pk, (st, _a, _t) in at_kill.items()
            if st in ("queued", "sending", "sent") and pk not in sent_before
        }
        status_at_kill = Counter(at_kill[pk][0] for pk in in_play)
        sending_at_kill = {pk for pk in in_play if at_kill[pk][0] == "sending"}
        queue_at_kill = self.redis.llen()

        self.start_worker(env, "worker-b2")
        log("drill B: worker restarted")
        time.sleep(max(0.0, SENDING_TIMEOUT + 1 - (time.monotonic() - kill_at)))
        dispatches = [self.ops("dispatch", env=env)]
        log(f"drill B: messages_dispatch after the timeout: {dispatches[-1]}")

        def done():
            rows = self.ops("messages")["rows"]
            return not any(rows[pk][0] in ("queued", "sending") for pk in in_play)

        deadline = time.monotonic() + 240
        finished = False
        while time.monotonic() < deadline:
            try:
                wait_for(done, 40, interval=1, what="all messages sent")
                finished = True
                break
            except DrillError:
                # What celery-beat does every few minutes: dispatch again (requeues stale).
                dispatches.append(self.ops("dispatch", env=env))
                log(f"drill B: still unsent, messages_dispatch again: {dispatches[-1]}")
        time.sleep(2)
        final = self.ops("messages")["rows"]
        rows = {pk: final[pk] for pk in in_play}
        ids = self.mail_ids()
        expected = {f"<carat-{pk}@carat.example>": pk for pk in rows}
        missing = [m for m in expected if m not in ids]
        stray = [m for m in ids if m not in expected]
        dupes = {m: n for m, n in ids.items() if m in expected and n > 1}
        dupes_in_flight = [m for m in dupes if expected[m] in sending_at_kill]
        final_status = Counter(st for st, _a, _t in rows.values())
        birthday_rows = sum(1 for _s, _a, trig in rows.values() if trig == "birthday")
        res["counts"].update(
            {
                "claimed": report["claimed"],
                "first_dispatch": report["dispatch"],
                "rows_sent_by_this_drill": len(rows),
                "rows_by_trigger": dict(Counter(trig for _s, _a, trig in rows.values())),
                "mails_before_kill": before_kill,
                "status_at_kill": dict(status_at_kill),
                "broker_queue_len_at_kill": queue_at_kill,
                "dispatch_runs_after_kill": len(dispatches),
                "stale_sending_requeued": dispatches[0]["stale_sending_requeued"],
                "stale_queued_republished": dispatches[0]["stale_queued_republished"],
                "final_status": dict(final_status),
                "attempts": dict(Counter(str(a) for _s, a, _t in rows.values())),
                "mail_files": sum(ids.values()),
                "unique_message_ids": len(ids),
                "missing_message_ids": len(missing),
                "duplicate_message_ids": len(dupes),
                "duplicate_mails": sum(n - 1 for n in dupes.values()),
                "rows_in_sending_at_kill": len(sending_at_kill),
                "stray_mails": len(stray),
            }
        )
        res["injected"] = (
            f"{len(rows)} mails due ({birthday_rows} birthday + "
            f"{len(rows) - birthday_rows} demo mails already scheduled by loaddemo), slow "
            "backend (20 ms each), batches of 200 on 2 worker processes; kill -9 of the worker's "
            f"process group ~1 s into sending ({before_kill} mails out); worker restarted; "
            f"messages_dispatch run after CARAT_SENDING_TIMEOUT_SECONDS={SENDING_TIMEOUT}"
        )
        checks = res["checks"]
        checks.append(
            (
                f"{N_BIRTHDAYS} birthday rows claimed",
                birthday_rows == N_BIRTHDAYS and report["claimed"].get("birthday") == N_BIRTHDAYS,
                f"{birthday_rows} birthday rows; {len(rows)} rows in all",
            )
        )
        checks.append(
            (
                "the kill hit the middle of the batch",
                0 < before_kill < len(rows),
                f"{before_kill} of {len(rows)} mails were out; rows then {dict(status_at_kill)}",
            )
        )
        checks.append(
            (
                "every MessageLog row ends 'sent' (no manual step)",
                finished and set(final_status) == {"sent"},
                f"final {dict(final_status)} after {len(dispatches)} dispatch run(s)",
            )
        )
        checks.append(
            (
                "every row's Message-ID was mailed (nothing lost)",
                not missing,
                f"{len(expected) - len(missing)}/{len(expected)} Message-IDs in the mail files"
                + (f"; missing e.g. {missing[:3]}" if missing else ""),
            )
        )
        checks.append(
            (
                "no mail outside the log rows (no second Message-ID for a row)",
                not stray,
                f"{len(stray)} stray" + (f": {stray[:3]}" if stray else ""),
            )
        )
        checks.append(
            (
                "each Message-ID mailed exactly once",
                not dupes,
                f"{sum(n - 1 for n in dupes.values())} duplicate mail(s) with the same Message-ID "
                f"({len(dupes_in_flight)} of them rows that were 'sending' at the kill; "
                f"{len(sending_at_kill)} rows were)" + (f": {list(dupes)[:4]}" if dupes else ""),
            )
        )
        # Back to the normal worker for drill C.
        self.worker.stop()
        self.start_worker(self.env(), "worker-c")
        return res

    # drill C -------------------------------------------------------------------------
    def drill_c(self) -> dict:
        res = {"name": "C — PostgreSQL restarted under load", "checks": [], "counts": {}}
        log("drill C: waiting for an idle queue")
        self.wait_idle()
        numbers = [m for m, _n in self.members]
        marks = self.ops("marks")
        web_log = self.tmp / "gunicorn.log"
        log_offset = web_log.stat().st_size
        master_pid = self.web.p.pid
        start = time.monotonic()
        stop_at = start + LOAD_SECONDS
        records: list[dict] = []
        lock = threading.Lock()
        counter = iter(range(10**9))
        restart = {}

        def loop(tid):
            rng = random.Random(tid)
            while time.monotonic() < stop_at:
                t = time.monotonic()
                rec = {"member": rng.choice(numbers)}
                if rng.random() < 0.5:
                    rec["kind"] = "lookup"
                    status, headers, body = self.api.lookup(rec["member"], timeout=15)
                else:
                    rec.update(
                        kind="purchase",
                        receipt=f"DRILL-C-{self.run_id}-{next(counter):05d}",
                        amount=f"{rng.randint(20, 900)}.00",
                    )
                    status, headers, body = self.api.purchase(
                        rec["member"], rec["receipt"], amount=rec["amount"], timeout=15
                    )
                rec.update(
                    t0=t - start,
                    t1=time.monotonic() - start,
                    status=status,
                    retry_after=headers.get("Retry-After"),
                    label=str(status) if status is not None else f"conn:{body}",
                )
                with lock:
                    records.append(rec)

        def restarter():
            time.sleep(RESTART_AT)
            restart["start"] = time.monotonic() - start
            try:
                self.pg.restart_fast()
            except Exception as exc:
                restart["error"] = str(exc)
            restart["end"] = time.monotonic() - start

        log(
            f"drill C: {LOAD_THREADS} client threads for {LOAD_SECONDS}s; "
            f"pg_ctl restart -m fast at {RESTART_AT}s"
        )
        with ThreadPoolExecutor(LOAD_THREADS + 1) as pool:
            futures = [pool.submit(loop, i) for i in range(LOAD_THREADS)]
            futures.append(pool.submit(restarter))
            for f in futures:
                f.result()
        log(
            f"drill C: restart from {restart.get('start', 0):.1f}s to {restart.get('end', 0):.1f}s; "
            f"{len(records)} requests"
        )
        if "error" in restart:
            raise DrillError(f"pg_ctl restart failed: {restart['error']}")

        per_second = defaultdict(Counter)
        for r in records:
            per_second[int(r["t0"])][r["label"]] += 1
        statuses = Counter(r["label"] for r in records)
        failures = [r for r in records if r["status"] is None or r["status"] >= 500]
        n503 = [r for r in records if r["status"] == 503]
        n503_no_retry = [r for r in n503 if not r["retry_after"]]
        n5xx = [
            r
            for r in records
            if r["status"] is not None and r["status"] >= 500 and r["status"] != 503
        ]
        unexpected_4xx = Counter(
            r["label"] for r in records if r["status"] is not None and 400 <= r["status"] < 500
        )
        first_fail = min((r["t0"] for r in failures), default=None)
        last_fail_end = max((r["t1"] for r in failures), default=None)
        recovered_at = None
        if last_fail_end is not None:
            # Recovered: the first success that started after the last failure ended.
            after = [
                r["t0"]
                for r in records
                if r["t0"] >= last_fail_end and r["status"] is not None and r["status"] < 500
            ]
            recovered_at = min(after, default=None)
        # The service answers without a restart: fresh requests after the load.
        post = Counter()
        for m in numbers[:10]:
            post[str(self.api.lookup(m)[0])] += 1
        for i in range(5):
            post[str(self.api.purchase(numbers[i], f"DRILL-C-{self.run_id}-after-{i}")[0])] += 1
        # What the database holds before anyone retries.
        sales = [r for r in records if r["kind"] == "purchase"]
        in_db = self.ops("purchases", {"receipts": [r["receipt"] for r in sales]})["purchases"]
        ok_missing = [
            r["receipt"] for r in sales if r["status"] == 201 and r["receipt"] not in in_db
        ]
        failed_sales = [r for r in failures if r["kind"] == "purchase"]
        failed_but_committed = [r["receipt"] for r in failed_sales if r["receipt"] in in_db]
        # A till retries a failed sale with the same receipt: it ends recorded, once
        # (201 if it was not recorded, 200 = a replay of what was).
        retry = Counter(
            str(self.api.purchase(r["member"], r["receipt"], amount=r["amount"])[0])
            for r in failed_sales
        )
        again = self.ops("purchases", {"receipts": [r["receipt"] for r in failed_sales]})[
            "purchases"
        ]
        not_recorded_after_retry = [r["receipt"] for r in failed_sales if r["receipt"] not in again]
        gunicorn_text = web_log.read_bytes()[log_offset:].decode(errors="replace")
        boots = gunicorn_text.count("Booting worker")
        tracebacks = extract_tracebacks(gunicorn_text) if n5xx else []
        ledger = self.ops("verify_ledger")
        if failed_but_committed:
            self.findings.append(
                f"{len(failed_but_committed)} sale(s) answered 503 during the PostgreSQL restart "
                "although they were committed (the till's retry with the same receipt got the "
                "200 replay, so nothing is doubled). The most likely window: the after-commit "
                "callback loyalty.kernel.outbox.publish() queries OutboxTask, and an OperationalError "
                "there propagates out of the committed sale. Fix in loyalty/kernel/outbox.py enqueue(): "
                "`transaction.on_commit(lambda: publish(row.pk), robust=True)` (the row stays "
                "for outbox_flush); and document in the API that a 503 on POST must be retried "
                "with the same receipt_id/Idempotency-Key."
            )
        # Background side: what celery-beat's minute job would find after the restart.
        time.sleep(3)
        self.ops("deliver_now")
        dl = self.ops("deliveries", {"since": marks["delivery"]})
        got = self.receiver.counts()
        stuck_received = sum(1 for e in dl["sending_event_ids"] if got.get(e))
        if dl["sending_event_ids"]:
            self.findings.append(
                f"After the PostgreSQL restart {len(dl['sending_event_ids'])} webhook "
                f"deliveries stay 'sending' ({stuck_received} of them were already received by "
                "the endpoint): the worker POSTed them, then the write of the result failed "
                "(OperationalError in loyalty/kernel/webhooks.py _post(), `.update(status='delivered')`"
                "). They go back to pending only after CLAIM_TIMEOUT (5 min) and are then "
                "sent again (a duplicate with the same id), and the same member's later events "
                f"wait behind them meanwhile ({dl['pending_behind_sending']} pending now). "
                "Fix in loyalty/kernel/webhooks.py: in _post(), retry the result write on "
                "OperationalError/InterfaceError (close the broken connection, back off up to "
                "~30 s, then write delivered/pending), and make CLAIM_TIMEOUT a small multiple "
                "of the endpoint timeout (e.g. 60 s) instead of 5 min."
            )
        res["per_second"] = {k: dict(v) for k, v in sorted(per_second.items())}
        res["tracebacks"] = tracebacks[:3]
        res["injected"] = (
            f"`pg_ctl restart -m fast` of the private cluster {RESTART_AT} s into a {LOAD_SECONDS} s "
            f"load ({LOAD_THREADS} client threads against gunicorn -w 2: 50% GET "
            "/api/v1/members/lookup/?code=<number>, 50% POST /api/v1/purchases/)"
        )
        c = res["counts"]
        c.update(
            {
                "requests": len(records),
                "by_status": dict(statuses),
                "503": len(n503),
                "503_without_retry_after": len(n503_no_retry),
                "500_or_other_5xx": len(n5xx),
                "connection_errors": sum(1 for r in records if r["status"] is None),
                "4xx": dict(unexpected_4xx),
                "restart_window_s": [round(restart["start"], 1), round(restart["end"], 1)],
                "first_failure_s": round(first_fail, 1) if first_fail is not None else None,
                "last_failure_end_s": round(last_fail_end, 1)
                if last_fail_end is not None
                else None,
                "recovered_at_s": round(recovered_at, 1) if recovered_at is not None else None,
                "seconds_to_recover_after_restart_began": round(recovered_at - restart["start"], 1)
                if recovered_at is not None
                else 0.0,
                "seconds_to_recover_after_pg_ready": round(
                    max(0.0, recovered_at - restart["end"]), 1
                )
                if recovered_at is not None
                else 0.0,
                "after_load_statuses": dict(post),
                "failed_sales_retried": len(failed_sales),
                "failed_sales_that_had_committed": len(failed_but_committed),
                "retry_statuses": dict(retry),
                "sales_not_in_db_after_retry": len(not_recorded_after_retry),
                "201_sales_missing_in_db": len(ok_missing),
                "gunicorn_master_same_pid": self.web.alive() and self.web.p.pid == master_pid,
                "gunicorn_workers_rebooted": boots,
                "verify_ledger": ledger["output"].strip()[:300],
                "webhook_deliveries_after_minute_job": dl["deliveries"],
                "webhook_deliveries_stuck_sending": len(dl["sending_event_ids"]),
                "stuck_sending_already_received": stuck_received,
                "pending_behind_stuck": dl["pending_behind_sending"],
            }
        )
        res["checks"].append(
            ("no 500 (only 503 or connection errors) during the restart", not n5xx,
             f"{len(n5xx)} x 5xx other than 503" + (" — traceback below" if tracebacks else ""))
        )  # fmt: skip
        res["checks"].append(
            ("every 503 carries Retry-After", not n503_no_retry,
             f"{len(n503)} x 503, {len(n503_no_retry)} without Retry-After")
        )  # fmt: skip
        res["checks"].append(
            ("the restart was felt (the fault was really injected)", bool(failures),
             f"{len(failures)} failed requests between t={c['first_failure_s']}s and "
             f"t={c['last_failure_end_s']}s (restart t={c['restart_window_s']})")
        )  # fmt: skip
        res["checks"].append(
            ("requests succeed again without restarting gunicorn",
             recovered_at is not None and set(post) <= {"200", "201"} and c["gunicorn_master_same_pid"],
             f"recovered {c['seconds_to_recover_after_restart_began']} s after the restart began "
             f"({c['seconds_to_recover_after_pg_ready']} s after PostgreSQL was ready); "
             f"after the load: {dict(post)}")
        )  # fmt: skip
        res["checks"].append(
            ("no sale lost: every 201 is in the database; a retried failure records once",
             not ok_missing and set(retry) <= {"200", "201"} and c["sales_not_in_db_after_retry"] == 0,
             f"{len(ok_missing)} missing; {len(failed_sales)} failed sales retried with the same "
             f"receipt: {dict(retry)}")
        )  # fmt: skip
        res["checks"].append(
            ("ledger consistent (verify_ledger)", ledger["ok"], ledger["output"].strip()[:120])
        )
        return res

    # teardown ------------------------------------------------------------------------
    def drill_d(self) -> dict:
        import replica_drill

        return replica_drill.drill_d(self, run, log, Proc, wait_for, free_port, PG_PORT)

    def teardown(self) -> None:
        for name, fn in [
            ("console", lambda: getattr(self, "console_web", None) and self.console_web.stop()),
            ("replica", lambda: getattr(self, "replica", None) and self.replica.stop("immediate")),
            ("worker", lambda: self.worker and self.worker.stop()),
            ("gunicorn", lambda: self.web and self.web.stop()),
            ("receiver", lambda: self.receiver and self.receiver.stop()),
            ("redis", self.redis.stop),
            ("postgres", self.pg.stop),
        ]:
            try:
                fn()
            except Exception as exc:
                log(f"teardown {name}: {exc}")
        shutil.rmtree(LAST_RUN, ignore_errors=True)
        LAST_RUN.mkdir()
        for src, dst in [
            (self.tmp / "gunicorn.log", "gunicorn.log"),
            (self.tmp / "worker.log", "worker.log"),
            (self.pg.logfile, "postgres.log"),
            (self.redis.logfile, "redis.log"),
            (self.tmp / "console.log", "console-gunicorn.log"),
            (self.tmp / "pgsock-replica" / "postgres.log", "postgres-replica.log"),
        ]:
            if src.exists():
                shutil.copy(src, LAST_RUN / dst)
        (LAST_RUN / "drill.log").write_text("\n".join(_log_lines) + "\n")
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- report -------------------------------------------------------------------------------


def extract_tracebacks(text: str) -> list[str]:
    """The 'Internal Server Error' records (with their tracebacks) from a gunicorn log."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            begin = i - 1 if i and "Error" in lines[i - 1] else i
            block = [lines[j] for j in range(begin, len(lines))][:120]
            end = len(block)
            for k, ln in enumerate(block[2:], start=2):
                if ln.startswith("127.0.0.1 - ") or ln.startswith("["):
                    end = k
                    break
            out.append("\n".join(block[:end]))
    # The same traceback many times over: keep distinct last lines.
    seen, unique = set(), []
    for tb in out:
        last = tb.strip().splitlines()[-1]
        if last not in seen:
            seen.add(last)
            unique.append(tb)
    return unique


def machine() -> dict:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    import importlib.metadata as md

    def v(pkg):
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "?"

    return {
        "host": platform.node(),
        "os": platform.platform(),
        "cores": os.cpu_count(),
        "ram": mem,
        "python": platform.python_version(),
        "packages": f"Django {v('django')}, Celery {v('celery')}, kombu {v('kombu')}, "
        f"gunicorn {v('gunicorn')}, psycopg {v('psycopg')}",
    }


def fmt_counts(counts: dict) -> list[str]:
    return [
        f"- {k}: `{json.dumps(v) if isinstance(v, (dict, list)) else v}`" for k, v in counts.items()
    ]


def render(drill: Drill, started: datetime, duration: float, error: str | None) -> str:
    m = machine()
    overall = (
        "PASS"
        if not error
        and drill.results
        and all(ok for r in drill.results.values() for _n, ok, _d in r["checks"])
        else "FAIL"
    )
    lines = [
        f"## {started.strftime('%Y-%m-%d %H:%M UTC')} — {overall}",
        "",
        f"Machine: {m['host']}, {m['cores']} cores, {m['ram']} RAM, {m['os']}; "
        f"{getattr(drill, 'info', {}).get('pg_version', 'PostgreSQL ' + drill.pg.version).split(' on ')[0]} "
        f"(private cluster, port {PG_PORT}), {drill.redis.version.split(' sha=')[0]} (private, port "
        f"{REDIS_PORT}); Python {m['python']}; {m['packages']}. Run time {duration:.0f} s.",
        "",
    ]
    if error:
        lines += ["**The run stopped with an error:**", "", "```", error.strip()[-3000:], "```", ""]
    for key in ("A", "B", "C", "D"):
        r = drill.results.get(key)
        if not r:
            continue
        ok = all(c[1] for c in r["checks"])
        lines += [
            f"### Drill {r['name']} — {'PASS' if ok else 'FAIL'}",
            "",
            f"Injected: {r.get('injected', '')}",
            "",
        ]
        lines += ["| check | result | detail |", "|---|---|---|"]
        for name, passed, detail in r["checks"]:
            detail = str(detail).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {name} | {'PASS' if passed else '**FAIL**'} | {detail} |")
        lines += ["", "Counts:", *fmt_counts(r["counts"]), ""]
        if r.get("per_second"):
            lines += [
                "Status codes per second of load (t = seconds since the load started):",
                "",
                "```",
            ]
            for sec, c in r["per_second"].items():
                lines.append(
                    f"t={int(sec):3d}s  " + "  ".join(f"{k}:{v}" for k, v in sorted(c.items()))
                )
            lines += ["```", ""]
        for tb in r.get("tracebacks") or []:
            lines += ["500 traceback (gunicorn log):", "", "```", tb, "```", ""]
    if drill.findings:
        lines += ["### Findings", ""]
        lines += [f"- {f}" for f in drill.findings]
        lines.append("")
    lines += ["Logs of this run: `drills/last-run/`.", ""]
    return "\n".join(lines)


def write_results(section: str) -> None:
    # Paths of this checkout stay out of the committed results.
    section = section.replace(str(DRILLS.parent) + "/", "./")
    header = (
        "# Fault drills — results\n\n"
        "Written by `make drill` (`drills/run.py`), newest run first. The drills run against a "
        "private PostgreSQL cluster and a private Redis, never the shared ones.\n\n"
    )
    older = ""
    if RESULTS.exists():
        text = RESULTS.read_text()
        i = text.find("\n## ")
        older = text[i + 1 :] if i >= 0 else ""
    RESULTS.write_text(header + section + ("\n" + older if older else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="A,B,C,D", help="the drills to run, e.g. D or A,D")
    only = set(parser.parse_args().only.upper().split(","))
    started = datetime.now(UTC)
    drill = Drill()
    error = None
    try:
        drill.setup()
        drills = (
            ("A", drill.drill_a),
            ("B", drill.drill_b),
            ("C", drill.drill_c),
            ("D", drill.drill_d),
        )
        for key, fn in ((k, f) for k, f in drills if k in only):
            log(f"===== drill {key}")
            try:
                drill.results[key] = fn()
            except Exception:
                tb = traceback.format_exc()
                log(tb)
                drill.results[key] = {
                    "name": key + " (aborted)",
                    "checks": [("drill ran to the end", False, tb.strip().splitlines()[-1])],
                    "counts": {},
                    "injected": "",
                }
    except Exception:
        error = traceback.format_exc()
        log(error)
    except KeyboardInterrupt:
        error = "interrupted"
    finally:
        drill.teardown()
    section = render(drill, started, time.monotonic() - T0, error)
    write_results(section)
    print("\n" + section)
    failed = (
        error
        or not drill.results
        or any(not ok for r in drill.results.values() for _n, ok, _d in r["checks"])
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
