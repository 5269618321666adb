"""The console's reads on a streaming replica (loyalty.kernel.replica): which reads go
there, the lag guard, and the fall back to the primary when the replica is behind, down
or fails in the middle of a page. The 'replica' here is a second connection to the test
database (not in recovery: never behind), or an address where nothing listens."""

# ruff: noqa: F811 - the fixtures imported from test_kpis are (re)named as arguments

import socket

import pytest
from django.core.cache import cache
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from loyalty.console import kpis
from loyalty.console.kpis import Filters
from loyalty.kernel import replica
from loyalty.kernel.replica import (
    REPLICA,
    ReplicaRouter,
    on_replica,
    reading_alias,
    replica_reads,
)
from members.models import Member
from tests.test_kpis import JANUARY, JANUARY_QUERY, book  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.postgresql,  # a replica is PostgreSQL's
    pytest.mark.django_db(databases=["default", REPLICA]),
]


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture
def add_replica(settings):
    """Turn the reads on the 'replica' alias on (the test database on a second
    connection, see loyalty/settings_test.py), or with `dead=True` point it at an
    address where nothing listens."""
    settings.CARAT_REPLICA_CHECK_SECONDS = 0  # ask at every read (tests change the answer)
    on = connections[REPLICA]
    saved = dict(on.settings_dict)

    def add(*, dead=False):
        settings.CARAT_REPLICA_READS = True
        if dead:
            on.close()
            on.settings_dict.update(HOST="127.0.0.1", PORT=str(_dead_port()))
        return on

    replica._state.update(checked=-1e9, ok=False, lag=None)
    cache.clear()
    yield add
    on.close()
    on.settings_dict.clear()
    on.settings_dict.update(saved)
    replica._state.update(checked=-1e9, ok=False, lag=None)
    cache.clear()


def test_without_a_replica_everything_reads_the_primary():
    router = ReplicaRouter()
    with replica_reads():
        assert reading_alias() == "default"
        assert router.db_for_read(Member) == "default"
        assert on_replica(Member.objects.count) == 0
    assert router.db_for_read(Member) is None  # Django's default: the primary


def test_console_reads_go_to_a_current_replica_and_writes_never_do(add_replica, enroll):
    on = add_replica()
    router = ReplicaRouter()
    assert router.db_for_read(Member) is None  # not asked for: the primary
    with replica_reads():
        assert reading_alias() == REPLICA
        assert router.db_for_read(Member) == REPLICA
        assert router.db_for_write(Member) == "default"
        with CaptureQueriesContext(on) as on_replica_queries:
            Member.objects.count()
        assert [q["sql"] for q in on_replica_queries if "pg_is_in_recovery" not in q["sql"]] == [
            'SELECT COUNT(*) AS "__count" FROM "members_member"'
        ]
        with CaptureQueriesContext(on) as on_replica_queries:
            enroll(email="new@example.com")  # a write (and its own reads) on the primary
        assert len(on_replica_queries) == 0
        with transaction.atomic():  # inside a transaction: its own writes are on the primary
            assert reading_alias() == "default"
    assert not router.allow_migrate(REPLICA, "members")
    assert router.allow_migrate("default", "members")


def test_the_dashboard_reads_the_replica(add_replica, client, marketing, book):
    on = add_replica()
    with CaptureQueriesContext(on) as queries:
        page = client.get(reverse("admin:index"), {**JANUARY_QUERY, "refresh": "1"})
    assert page.status_code == 200
    # Committed rows only on the second connection: the test's book is not there.
    assert len(queries) > 10 and any("pos_purchase" in q["sql"] for q in queries)


def test_a_lagging_replica_sends_the_reads_back_to_the_primary(add_replica, settings, monkeypatch):
    add_replica()
    settings.CARAT_REPLICA_MAX_LAG_SECONDS = 30
    lag = {"seconds": 45.0, "asked": 0}

    def fake_lag():
        lag["asked"] += 1
        return lag["seconds"]

    monkeypatch.setattr(replica, "replica_lag", fake_lag)
    with replica_reads():
        assert reading_alias() == "default"
        lag["seconds"] = 2.0
        assert reading_alias() == REPLICA
        settings.CARAT_REPLICA_CHECK_SECONDS = 3600  # the answer is kept a while
        lag["seconds"] = 45.0
        asked = lag["asked"]
        assert reading_alias() == REPLICA and lag["asked"] == asked
    assert replica.LAG_SQL.count("pg_last_xact_replay_timestamp()") == 1


def test_the_lag_query_answers_on_the_primary_itself(add_replica):
    add_replica()
    assert replica.replica_lag() == 0.0  # not in recovery: nothing to catch up


def test_a_dead_replica_falls_back_to_the_primary_without_an_error(
    add_replica, client, marketing, book
):
    add_replica(dead=True)
    with replica_reads():
        assert reading_alias() == "default"  # the check failed: the primary, no exception
    page = client.get(reverse("admin:index"), {**JANUARY_QUERY, "refresh": "1"})
    assert page.status_code == 200 and "€1,590" in page.content.decode()  # the test's book
    assert replica._state["ok"] is False  # until the next check


def test_a_replica_failing_mid_page_is_retried_on_the_primary(
    add_replica, monkeypatch, settings, book
):
    add_replica(dead=True)
    monkeypatch.setattr(replica, "replica_lag", lambda: 0.0)  # looked fine when asked
    dashboard = on_replica(kpis.dashboard, JANUARY, Filters())
    settings.CARAT_REPLICA_CHECK_SECONDS = 3600
    assert dashboard.current.sales.revenue_eur == kpis.dashboard(JANUARY).current.sales.revenue_eur
    with replica_reads():
        assert reading_alias() == "default"  # marked down until the next check
    assert replica._state["ok"] is False


def test_errors_of_the_primary_are_not_swallowed(add_replica, monkeypatch):
    add_replica()
    from django.db import OperationalError

    def broken():
        raise OperationalError("primary down")

    monkeypatch.setattr(replica, "replica_usable", lambda: False)
    with pytest.raises(OperationalError):
        on_replica(broken)
