"""The rollup job's parallel build (loyalty.console.rollup): several connections, one snapshot,
one publishing transaction. These tests commit (transaction=True): the job's other
connections only see committed rows."""

# ruff: noqa: F811 - the fixtures imported from test_kpis are (re)named as arguments

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections

from loyalty.console import kpis, rollup
from loyalty.console.kpis import Filters, Period
from loyalty.console.models import KpiRollupRun
from loyalty.console.rollup import ROLLUPS, kpi_rollup_build
from tests.test_kpis import LATER, book, sale, travel  # noqa: F401 - fixtures
from tests.test_kpis_rollup import assert_same

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))


def contents() -> dict:
    """Every rollup's rows, without their ids, in a comparable order."""
    result = {}
    for model in ROLLUPS:
        fields = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
        result[model.__name__] = sorted(
            model.objects.values_list(*fields), key=lambda row: [str(v) for v in row]
        )
    return result


def work_tables() -> list[str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE 'kpi\\_w\\_%%' "
            "AND relpersistence = 'u' AND relkind = 'r'"
        )
        return sorted(r[0] for r in cur.fetchall())


def test_the_parallel_build_writes_what_the_serial_one_does(book):
    with travel(LATER):
        serial = kpi_rollup_build(workers=1)
    expected = contents()
    assert sum(len(rows) for rows in expected.values()) > 50  # the book is rolled up
    with travel(LATER):
        parallel = kpi_rollup_build(workers=2)
    assert contents() == expected
    assert list(KpiRollupRun.objects.all()) == [parallel]
    assert parallel.rows["workers"] == 2 and "workers" not in serial.rows
    assert {k: v for k, v in parallel.rows.items() if not k.endswith("seconds")} == {
        k: v for k, v in serial.rows.items() if not k.endswith("seconds")
    } | {"workers": 2}
    assert_same(Period(date(2024, 2, 1), date(2025, 1, 31)), Filters(), parallel)
    assert work_tables() == []


def test_three_workers_share_the_steps_with_the_jobs_settings(book, monkeypatch):
    with travel(LATER):
        kpi_rollup_build(workers=1)
    expected = contents()
    real_on, seen = rollup._on, {}

    def on(conn, rows, name, step, *args):
        seen[name] = (id(conn), conn.execute("SHOW work_mem").fetchone()[0])
        return real_on(conn, rows, name, step, *args)

    monkeypatch.setattr(rollup, "_on", on)
    with travel(LATER):
        kpi_rollup_build(workers=3)
    assert contents() == expected
    # every step with the job's memory (the first one takes the third connection)
    assert {mem for _conn, mem in seen.values()} == {"512MB"}


def test_both_readers_count_the_same_snapshot(book, antwerp, monkeypatch):
    """A sale committed after the first connection took the snapshot, before the second
    one reads, is in neither the sales nor the ledger rollups: the second connection
    reads the first one's snapshot. Without it, its ledger read would count the sale."""
    real_connect, opened = rollup._connect, []

    def connect_after_a_sale(*args):
        opened.append(1)
        if len(opened) == 2:  # the second reader: the first has exported its snapshot
            sale(book["dan"], LATER + timedelta(minutes=5), "70.00", store=antwerp, receipt="D1")
        return real_connect(*args)

    monkeypatch.setattr(rollup, "_connect", connect_after_a_sale)
    with travel(LATER + timedelta(minutes=10)):
        first = kpi_rollup_build(workers=2)
    assert len(opened) == 2
    assert kpis.sales_kpis(NOVEMBER, rollup=first).gross_eur == Decimal("0.00")
    assert kpis.carat_kpis(NOVEMBER, rollup=first).issued == 0
    with travel(LATER + timedelta(minutes=20)):
        second = kpi_rollup_build(workers=2)
    assert kpis.sales_kpis(NOVEMBER, rollup=second).gross_eur == Decimal("70.00")
    assert kpis.carat_kpis(NOVEMBER, rollup=second).issued == 70


@pytest.mark.parametrize("step", ["_read_ledger", "_activity_level", "_first_orders", "_publish"])
def test_a_failing_step_keeps_the_previous_rollups(book, monkeypatch, step):
    with travel(LATER):
        before = kpi_rollup_build(workers=2)
    expected = contents()

    def fail(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rollup, step, fail)
    with travel(LATER + timedelta(hours=1)), pytest.raises(RuntimeError, match="disk full"):
        kpi_rollup_build(workers=2)
    assert list(KpiRollupRun.objects.all()) == [before]
    assert contents() == expected
    assert work_tables() == []


def test_work_tables_left_by_a_crashed_run_are_dropped_first(book):
    with connection.cursor() as cur:
        cur.execute("CREATE UNLOGGED TABLE kpi_w_od (stale integer)")
    with travel(LATER):
        run = kpi_rollup_build(workers=2)
    assert run.rows["sales_member_days"] > 0
    assert work_tables() == []


def test_two_runs_at_once_both_finish_one_after_the_other(book):
    with travel(LATER):
        kpi_rollup_build(workers=1)
    expected = contents()
    runs, errors = [], []

    def build():
        try:
            runs.append(kpi_rollup_build(workers=2))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    with travel(LATER):
        threads = [threading.Thread(target=build) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert errors == [] and len(runs) == 2
    assert contents() == expected
    assert KpiRollupRun.objects.count() == 1
    assert work_tables() == []
