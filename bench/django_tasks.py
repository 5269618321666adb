"""Measurements that run inside Django (one per process, started by bench/run.py with the
production settings from the environment). Each prints one JSON line on stdout.

    python bench/django_tasks.py tiers REPEATS [RAW_SQL]
    python bench/django_tasks.py triggers
    python bench/django_tasks.py admin SAMPLE_FILE REPEATS
    python bench/django_tasks.py earn_queries SAMPLE_FILE API_KEY
    python bench/django_tasks.py superuser
    python bench/django_tasks.py client_search SAMPLE_FILE QUERIES
    python bench/django_tasks.py rollup_hour SALES
    python bench/django_tasks.py predictions
    python bench/django_tasks.py segment_catalog REPEATS
"""

from __future__ import annotations

import collections
import cProfile
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

import django

django.setup()

from django.db import connection, reset_queries, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

ADMIN_EMAIL = "bench-admin@carat.example"
ADMIN_PASSWORD = "bench-admin-password"  # noqa: S105 - a throwaway bench database


def out(data: dict) -> None:
    print(json.dumps(data, default=str))


def _slowest(queries, n=3):
    rows = sorted(queries, key=lambda q: -float(q["time"]))[:n]
    return [{"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:600]} for q in rows]


def tiers(repeats: str = "3", raw_sql: str = "") -> None:
    """tiers_evaluate_all over every member: `repeats` runs rolled back (the same work
    each time), then one that commits. With `raw_sql` (the baseline, one %s for the start
    of the 12-month window) the baseline runs before each rolled-back run, on the same
    connection, so that both series see the machine in the same state."""
    from tiers.services import tiers_evaluate_all

    now = timezone.now()
    since = now.replace(year=now.year - 1)
    times, raw = [], []
    if raw_sql:  # warm the cache the same way for both
        with connection.cursor() as cur:
            cur.execute(raw_sql, [since])
    for _ in range(int(repeats)):
        if raw_sql:
            with connection.cursor() as cur:
                t0 = time.perf_counter()
                cur.execute(raw_sql, [since])
                cur.fetchall()
                raw.append(time.perf_counter() - t0)
        with transaction.atomic():
            t0 = time.perf_counter()
            report = tiers_evaluate_all(now=now)
            times.append(time.perf_counter() - t0)
            transaction.set_rollback(True)
    with CaptureQueriesContext(connection) as ctx:
        t0 = time.perf_counter()
        report = tiers_evaluate_all(now=now)
        committed = time.perf_counter() - t0
    out(
        {
            "seconds": times,
            "raw_seconds": raw,
            "committed_seconds": committed,
            "initialised": report.initialised,
            "upgraded": report.upgraded,
            "downgraded": report.downgraded,
            "queries": len(ctx.captured_queries),
            "slowest": _slowest(ctx.captured_queries),
        }
    )


def triggers() -> None:
    """One day of trigger e-mails: select (claim) and dispatch (queue to the broker)."""
    from campaigns.models import MessageLog
    from campaigns.services.dispatch import messages_dispatch, triggers_select
    from loyalty.kernel.models import OutboxTask

    now = timezone.now()
    outbox_before = OutboxTask.objects.count()
    with CaptureQueriesContext(connection) as sel_ctx:
        t0 = time.perf_counter()
        selection = triggers_select(now=now)
        t_select = time.perf_counter() - t0
    with CaptureQueriesContext(connection) as disp_ctx:
        t0 = time.perf_counter()
        dispatch = messages_dispatch(now=now)
        t_dispatch = time.perf_counter() - t0
    statuses = dict(
        MessageLog.objects.values_list("status").annotate(n=django.db.models.Count("id"))
    )
    outbox = OutboxTask.objects.count() - outbox_before
    published = OutboxTask.objects.filter(
        task="campaigns.send_messages", published_at__isnull=False
    ).count()
    out(
        {
            "select_seconds": t_select,
            "dispatch_seconds": t_dispatch,
            "claimed": selection.claimed,
            "queued": dispatch.queued,
            "capped": dispatch.capped,
            "skipped": dispatch.skipped,
            "cancelled": dispatch.cancelled,
            "statuses": statuses,
            "outbox_tasks": outbox,
            "published": published,
            "select_queries": len(sel_ctx.captured_queries),
            "dispatch_queries": len(disp_ctx.captured_queries),
            "select_slowest": _slowest(sel_ctx.captured_queries, 5),
            "dispatch_slowest": _slowest(disp_ctx.captured_queries, 3),
        }
    )


def superuser() -> None:
    from members.models import User

    user = User.objects.filter(email=ADMIN_EMAIL).first()
    if user is None:
        User.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    out({"email": ADMIN_EMAIL})


def _plain_static():
    # DEBUG is off and collectstatic has not run for this checkout: render {% static %}
    # without the manifest (the page's work is the same).
    return override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    )


def admin(sample_file: str, repeats: str = "5") -> None:
    """The console at full size: member list, searches, a member's page, the dashboard."""
    from django.test import Client

    from members.models import LedgerEntry, Member, User

    rows = [line.split("\t") for line in Path(sample_file).read_text().splitlines()]
    mid, _token, number, mail, tel = rows[len(rows) // 2]
    # The change page of the sampled member with the longest history.
    ids = [int(r[0]) for r in rows[:5000]]
    change_id = (
        LedgerEntry.objects.filter(member_id__in=ids)
        .values("member_id")
        .annotate(n=django.db.models.Count("id"))
        .order_by("-n")
        .values_list("member_id", flat=True)[:1][0]
    )
    history = LedgerEntry.objects.filter(member_id=change_id).count()
    user = User.objects.get(email=ADMIN_EMAIL)
    client = Client()
    client.force_login(user)
    base = "/" + os.environ.get("CARAT_ADMIN_PATH", "admin/").strip("/") + "/"
    last_name = Member.objects.values_list("last_name", flat=True).get(pk=int(mid))
    pages = [
        ("member list, first page", f"{base}members/member/"),
        ("search by e-mail", f"{base}members/member/?q={mail}"),
        ("search by member number", f"{base}members/member/?q={number}"),
        ("search by phone", f"{base}members/member/?q={tel.replace('+', '%2B')}"),
        ("search by name prefix", f"{base}members/member/?q={last_name[:4]}"),
        ("member change page", f"{base}members/member/{change_id}/change/"),
        ("ledger list, first page", f"{base}members/ledgerentry/"),
        ("purchase list, first page", f"{base}pos/purchase/"),
        ("dashboard (admin index), computed", f"{base}?refresh=1"),
        ("dashboard (admin index), cached", f"{base}"),
    ]
    results = []
    with _plain_static():
        for name, url in pages:
            times, status, nq, slow, size = [], None, 0, [], 0
            for _ in range(int(repeats)):
                reset_queries()
                with CaptureQueriesContext(connection) as ctx:
                    t0 = time.perf_counter()
                    response = client.get(url)
                    if hasattr(response, "render") and not response.is_rendered:
                        response.render()
                    times.append(time.perf_counter() - t0)
                status, nq, size = (
                    response.status_code,
                    len(ctx.captured_queries),
                    len(response.content),
                )
                slow = _slowest(ctx.captured_queries, 2)
                if status != 200 or times[-1] > 5:
                    break  # an error, or slow enough that one sample says it
            results.append(
                {
                    "name": name,
                    "url": url,
                    "status": status,
                    "seconds": times,
                    "queries": nq,
                    "bytes": size,
                    "slowest": slow,
                }
            )
    out({"pages": results, "change_member_ledger_rows": history})


class _DbTimer:
    """connection.execute_wrapper: time spent in the database driver (round trips)."""

    def __init__(self):
        self.seconds = 0.0
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - t0
            self.count += 1


def _sql_list(queries):
    return [{"ms": round(float(q["time"]) * 1000, 2), "sql": q["sql"][:300]} for q in queries]


def _cpu_seconds(pid: int) -> float:
    """user + system CPU of a process (a PostgreSQL backend on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_pid() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def raw_earn_cpu(n: int, lo: int, hi: int) -> dict:
    """The pgbench transaction (ledger INSERT with a unique key + balance UPDATE) n times
    on one connection: PostgreSQL CPU and wall time per transaction."""
    import random
    import uuid

    rng = random.Random(5)
    pid = _backend_pid()
    cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
    with connection.cursor() as cur:
        for _ in range(n):
            mid, c = rng.randint(lo, hi), rng.randint(79, 1450)
            with transaction.atomic():
                cur.execute(
                    "INSERT INTO members_ledgerentry (member_id, carats, kind, reason, key, "
                    "balance_after, occurred_at, created_at) VALUES (%s, %s, 'purchase', "
                    "'raw earn', %s, 0, now(), now())",
                    [mid, c, f"raw:{uuid.uuid4()}"],
                )
                cur.execute(
                    "UPDATE members_member SET balance = balance + %s, last_activity_at = now() "
                    "WHERE id = %s",
                    [c, mid],
                )
    return {
        "pg_cpu_ms": round((_cpu_seconds(pid) - cpu0) * 1000 / n, 3),
        "wall_ms": round((time.perf_counter() - t0) * 1000 / n, 3),
    }


def earn_queries(sample_file: str, api_key: str, repeats: str = "60") -> None:
    """One POST /api/v1/purchases/ and one GET lookup in process: their queries; then
    `repeats` of each, timed, with the share spent waiting on the database."""
    from django.test import Client

    rows = [line.split("\t") for line in Path(sample_file).read_text().splitlines()]
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    run = time.time_ns()

    def earn(n):
        token = rows[(n * 7919) % len(rows)][1]
        body = {
            "member": f"CARAT1:{token}",
            "store": "antwerp",
            "receipt_id": f"Q-{run}-{n}",
            "amount": "129.00",
            "currency": "EUR",
        }
        return client.post("/api/v1/purchases/", body, content_type="application/json")

    def lookup(n):
        token = rows[(n * 7919) % len(rows)][1]
        return client.get(f"/api/v1/members/lookup/?code=CARAT1:{token}")

    result = {}
    for name, call in (("earn", earn), ("lookup", lookup)):
        call(0)  # warm
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = call(1)
            elapsed = time.perf_counter() - t0
        captured = list(ctx.captured_queries)  # a view of the log: copy before more requests
        timer = _DbTimer()
        statuses = collections.Counter()
        prof = cProfile.Profile(time.process_time) if os.environ.get("BENCH_CPROFILE") else None
        pid = _backend_pid()
        cpu0, pg0 = time.process_time(), _cpu_seconds(pid)
        with connection.execute_wrapper(timer):
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            for n in range(2, 2 + int(repeats)):
                statuses[call(n).status_code] += 1
            if prof:
                prof.disable()
            total = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        pg_cpu = _cpu_seconds(pid) - pg0 if pid == _backend_pid() else float("nan")
        if prof:
            prof.dump_stats(os.environ["BENCH_CPROFILE"] + f"-{name}.pstats")
        n = int(repeats)
        result[name] = {
            "status": response.status_code,
            "ms": round(elapsed * 1000, 1),
            "queries": len(captured),
            "sql": _sql_list(captured),
            "mean_ms": round(total * 1000 / n, 2),
            "mean_db_ms": round(timer.seconds * 1000 / n, 2),
            "mean_python_ms": round((total - timer.seconds) * 1000 / n, 2),
            "python_cpu_ms": round(cpu * 1000 / n, 2),
            "pg_cpu_ms": round(pg_cpu * 1000 / n, 2),
            "statuses": dict(statuses),
        }
    lo, hi = int(rows[0][0]), int(rows[-1][0])
    result["raw"] = raw_earn_cpu(int(repeats) * 5, lo, hi)
    out(result)


def client_search(sample_file: str, queries: str = "400") -> None:
    """The client search at the counter (members.selectors.client_search): prefixes of
    sampled members' last names, first names, e-mails and phones, over all members and
    within one store's clients (pos.clienteling.selectors.clients_find). Timed per call,
    rows fetched included; the first 20 calls warm the connection and are not counted."""
    import random

    from members.folding import fold
    from members.models import Member
    from members.selectors import client_search as search
    from pos.clienteling.selectors import clients_find
    from pos.models import Store

    rng = random.Random(7)
    rows = [line.split("\t") for line in Path(sample_file).read_text().splitlines()]
    ids = [int(r[0]) for r in rng.sample(rows, min(len(rows), 2000))]
    people = list(
        Member.objects.filter(pk__in=ids).values_list("first_name", "last_name", "email", "phone")
    )
    store = Store.objects.order_by("pk").first()

    def prefixes():
        while True:
            first, last, mail, tel = rng.choice(people)
            kind = rng.choice(("last name", "first name", "e-mail", "phone"))
            n = rng.randint(2, 5)
            if kind == "last name":
                yield kind, fold(last)[:n]
            elif kind == "first name":
                yield kind, fold(first)[:n]
            elif kind == "e-mail":
                yield kind, mail[: n + 2]
            else:
                yield kind, tel[: n + 4]

    result = {"members": Member.objects.count(), "store": store.code, "kinds": {}}
    for scope in ("all", "store"):
        times = collections.defaultdict(list)
        found = collections.defaultdict(list)
        gen = prefixes()
        for i in range(int(queries) + 20):
            kind, query = next(gen)
            t0 = time.perf_counter()
            hits = search(query) if scope == "all" else clients_find(query, [store])
            elapsed = time.perf_counter() - t0
            if i >= 20:
                times[kind].append(elapsed)
                times["any"].append(elapsed)
                found[kind].append(len(hits))
        for kind, values in times.items():
            values.sort()
            result["kinds"][f"{scope}: {kind}"] = {
                "n": len(values),
                "p50_ms": round(values[len(values) // 2] * 1000, 2),
                "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))] * 1000, 2),
                "max_ms": round(values[-1] * 1000, 2),
                "mean_hits": round(sum(found[kind]) / len(found[kind]), 1) if found[kind] else None,
            }
    # The plan of one name-prefix candidate list, for the record.
    from members.folding import Fold

    qs = (
        Member.objects.annotate(_k=Fold("last_name"))
        .filter(_k__startswith=fold(people[0][1])[:2], erased_at__isnull=True)
        .order_by("_k")[:20]
    )
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        result["plan"] = [r[0] for r in cursor.fetchall()]
    out(result)


def _rollup_digest() -> dict:
    """Per rollup: its row count and an md5 of its rows in order (ids left out)."""
    from loyalty.console.rollup import ROLLUPS

    digest = {}
    with connection.cursor() as cur:
        for model in ROLLUPS:
            cols = ", ".join(f.column for f in model._meta.concrete_fields if not f.primary_key)
            cur.execute(
                f"SELECT COUNT(*), md5(COALESCE(string_agg(r, ',' ORDER BY r), '')) "  # noqa: S608
                f"FROM (SELECT ({cols})::text AS r FROM {model._meta.db_table}) t"
            )
            digest[model.__name__] = list(cur.fetchone())
    return digest


def _an_hour_of_changes(sales: int, rng) -> dict:
    """What an hour brings, through the services (the real paths): `sales` sales now, 5%
    of them dated back up to a year, returns, carat corrections, tier moves, new members
    and erasures, on random members."""
    from datetime import timedelta
    from decimal import Decimal

    from campaigns.services import member_enroll
    from loyalty.console.privacy import member_erase_all
    from members.models import Member, User
    from members.services import ledger_adjust
    from pos.models import Purchase, Store
    from pos.services import purchase_record, return_record
    from tiers.models import Tier
    from tiers.services import tier_invite

    actor, _ = User.objects.get_or_create(email=ADMIN_EMAIL)
    stores = list(Store.objects.filter(currency="EUR")[:20])
    lo, hi = (
        Member.objects.order_by("pk").values_list("pk", flat=True)[:1][0],
        (Member.objects.order_by("-pk").values_list("pk", flat=True)[:1][0]),
    )

    def members(n):
        ids = [rng.randint(lo, hi) for _ in range(n * 2)]
        found = list(Member.objects.filter(pk__in=ids, erased_at__isnull=True)[:n])
        return found

    now, tag, done = timezone.now(), f"{int(time.time())}", collections.Counter()
    for i, m in enumerate(members(sales)):
        late = i % 20 == 0
        when = now - (timedelta(days=rng.randint(1, 365)) if late else timedelta(minutes=i % 60))
        store = rng.choice(stores)
        purchase_record(
            member=m, channel="store", store=store, receipt_id=f"hour-{tag}-{i}",
            amount=Decimal(rng.randint(20, 900)), currency="EUR", occurred_at=when,
            max_age=timedelta(days=400),
        )  # fmt: skip
        done["late sales" if late else "sales"] += 1
    recent = Purchase.objects.filter(channel="store", store__currency="EUR").order_by("-pk")
    for i, p in enumerate(recent[: max(1, sales // 30)]):
        return_record(
            channel="store", store=p.store, receipt_id=p.receipt_id, return_id=f"hr-{tag}-{i}",
            amount=p.amount if i % 2 else (p.amount / 2).quantize(Decimal("1")),
        )  # fmt: skip
        done["returns"] += 1
    for i, m in enumerate(members(max(1, sales // 10))):
        ledger_adjust(member=m, carats=25, reason="Goodwill", actor=actor, key=f"hl-{tag}-{i}")
        done["carat corrections"] += 1
    ambassador = Tier.objects.filter(invite_only=True).first()
    for m in members(max(1, sales // 50)):
        tier_invite(member=m, tier=ambassador, actor=actor, note="Bench")
        done["tier moves"] += 1
    for i in range(max(1, sales // 20)):
        member_enroll(email=f"hour-{tag}-{i}@bench.example", first_name="Hour")
        done["new members"] += 1
    for m in members(max(1, sales // 200)):
        member_erase_all(member=m, source="console", actor=actor, reason="Bench")
        done["erasures"] += 1
    return dict(done)


def rollup_hour(sales: str = "1000") -> None:
    """The hourly rollup after an hour of changes: a full build first (the night's), then
    the changes, then the incremental run; then a full rebuild, whose rollups must be
    the incremental run's, row for row (md5 of each table)."""
    import random

    from loyalty.console.rollup_delta import kpi_rollup_refresh

    full = kpi_rollup_refresh(full=True)
    t0 = time.perf_counter()
    changes = _an_hour_of_changes(int(sales), random.Random(28))
    written = time.perf_counter() - t0
    run = kpi_rollup_refresh()
    incremental = _rollup_digest()
    again = kpi_rollup_refresh(full=True)
    out(
        {
            "full_seconds": float(full.seconds),
            "changes": changes,
            "changes_seconds": round(written, 1),
            "seconds": float(run.seconds),
            "rows": run.rows,
            "same_as_full": incremental == _rollup_digest(),
            "full_again_seconds": float(again.seconds),
        }
    )


def predictions() -> None:
    """The nightly predictions: features, fit on the sample, scoring, write-back."""
    from members.predictions.services import predictions_run

    t0 = time.perf_counter()
    run = predictions_run()
    total = time.perf_counter() - t0
    if run is None:
        out({"seconds": total, "scored": 0})
        return
    out(
        {
            "seconds": total,
            "steps": run.seconds,
            "scored": run.members_scored,
            "sample": run.sample_size,
            "params": run.params,
            "expected_90_total": run.expected_90_total,
            "histogram": run.p_alive_histogram,
        }
    )


def segment_catalog(repeats: str = "3") -> None:
    """Cross-category segments (campaigns.segments_catalog) counted over every member:
    "bought rings, never earrings", the same within 90 days, and "bought rings" alone.
    Each counted `repeats` times (the first run warms the cache and is not counted); the
    segments are made in a transaction that is rolled back."""
    from campaigns.models import Segment, SegmentCondition
    from campaigns.segments import segment_members
    from members.models import Member

    cases = {
        "bought rings, never earrings": [
            ("bought_category", "rings"),
            ("never_category", "earrings"),
        ],
        "bought rings in 90 days, no earrings in 90 days": [
            ("bought_category", "rings:90"),
            ("never_category", "earrings:90"),
        ],
        "bought rings": [("bought_category", "rings")],
    }
    result = {"members": Member.objects.count(), "cases": {}}
    with transaction.atomic():
        for i, (name, conditions) in enumerate(cases.items()):
            seg = Segment.objects.create(name=f"bench segment {i}")
            for field, value in conditions:
                SegmentCondition.objects.create(segment=seg, field=field, value=value)
            members = segment_members(seg)
            times, count = [], 0
            for run in range(int(repeats) + 1):
                t0 = time.perf_counter()
                count = members.count()
                if run:
                    times.append(time.perf_counter() - t0)
            times.sort()
            plan = members.explain().splitlines()
            result["cases"][name] = {
                "count": count,
                "median_s": round(times[len(times) // 2], 3),
                "max_s": round(times[-1], 3),
                "plan": [line.strip() for line in plan[:8]],
            }
        transaction.set_rollback(True)
    out(result)


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
