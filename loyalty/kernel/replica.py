"""Reads that may be served by a streaming replica (`DATABASE_REPLICA_URL`).

Only reads that are asked for go there: the console's dashboard and KPIs and its CSV
exports run inside `replica_reads()` (or through `on_replica()`, which also retries on the
primary). Everything else, and every write, stays on the primary. A read inside a
transaction on the primary stays on the primary too (it must see the transaction's writes).

The lag guard: before reads go to the replica, it is asked how far behind it is
(`pg_last_xact_replay_timestamp()` against `now()`, zero when it has replayed all it
received from a streaming primary); the answer is kept for CARAT_REPLICA_CHECK_SECONDS per
process. Behind by more than CARAT_REPLICA_MAX_LAG_SECONDS, or not answering (stopped,
unreachable, refusing connections), the reads go to the primary until the next check. A
replica that fails in the middle of a page (`on_replica`) is marked down and the page is
computed again on the primary: the console never shows a 500 for a replica.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, connections

log = logging.getLogger(__name__)

REPLICA = "replica"  # the alias settings.py gives DATABASE_REPLICA_URL
_reading: ContextVar[bool] = ContextVar("carat_replica_reads", default=False)
_state = {"checked": -1e9, "ok": False, "lag": None}
_lock = threading.Lock()

# Behind by how long: zero if everything received from a streaming primary is replayed
# (an idle primary sends nothing new, the last replay time grows old), else the age of
# the last replayed transaction. Not in recovery (a promoted replica): zero.
LAG_SQL = """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
             AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
        THEN 0
        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9)
    END"""

T = TypeVar("T")


def replica_configured() -> bool:
    """DATABASE_REPLICA_URL is set (and replica reads are not turned off)."""
    return REPLICA in settings.DATABASES and getattr(settings, "CARAT_REPLICA_READS", True)


def replica_lag() -> float:
    """Seconds the replica is behind (raises DatabaseError if it does not answer)."""
    with connections[REPLICA].cursor() as cur:
        cur.execute(LAG_SQL)
        return float(cur.fetchone()[0])


def mark_replica_down(reason: str) -> None:
    """Reads go to the primary until the next check."""
    with _lock:
        _state.update(checked=time.monotonic(), ok=False, lag=None)
    log.warning("replica not used: %s", reason)
    with suppress(DatabaseError):
        connections[REPLICA].close()


def replica_usable() -> bool:
    """The replica is configured, answers, and is not too far behind (checked at most
    every CARAT_REPLICA_CHECK_SECONDS in this process)."""
    if not replica_configured():
        return False
    now = time.monotonic()
    if now - _state["checked"] < getattr(settings, "CARAT_REPLICA_CHECK_SECONDS", 5):
        return _state["ok"]
    try:
        lag = replica_lag()
    except DatabaseError as exc:
        mark_replica_down(f"{type(exc).__name__}: {str(exc).strip()[:200]}")
        return False
    limit = getattr(settings, "CARAT_REPLICA_MAX_LAG_SECONDS", 30)
    with _lock:
        _state.update(checked=now, ok=lag <= limit, lag=lag)
    if lag > limit:
        log.warning("replica not used: %.1f s behind (limit %s s)", lag, limit)
    return lag <= limit


def _in_transaction() -> bool:
    """A transaction is open on the primary (the test framework's own do not count)."""
    blocks = connections["default"].atomic_blocks
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


def reading_alias() -> str:
    """The alias a read asked for by `replica_reads()` goes to now."""
    if not _reading.get() or _in_transaction():
        return "default"
    return REPLICA if replica_usable() else "default"


@contextmanager
def replica_reads() -> Iterator[None]:
    """The ORM reads (and `connections[reading_alias()]`) inside go to the replica
    when it is usable."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def on_replica(fn: Callable[..., T], *args, **kwargs) -> T:
    """fn(*args, **kwargs) with its reads on the replica; if the replica fails meanwhile,
    it is marked down and fn runs again on the primary."""
    if not replica_configured():
        return fn(*args, **kwargs)
    with replica_reads():
        used = reading_alias() == REPLICA
        try:
            return fn(*args, **kwargs)
        except DatabaseError as exc:
            if not used:
                raise
            mark_replica_down(f"failed during a read: {type(exc).__name__}")
    return fn(*args, **kwargs)


class ReplicaRouter:
    """settings.DATABASE_ROUTERS: reads asked for by `replica_reads()` to the replica when
    it is usable; writes and migrations only on the primary."""

    def db_for_read(self, model, **hints):
        return reading_alias() if _reading.get() else None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same tables on both

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
