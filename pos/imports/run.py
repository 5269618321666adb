"""One import, its steps in order (one transaction; a dry run rolls back)."""


# names (the CSV header is mapped to c0..cN) and constants; every value is a parameter.

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from loyalty.kernel.errors import DomainError
from members.models import LedgerEntry, Member, User
from pos.models import ExchangeRate, Purchase, Store
from tiers.models import MemberTier, Tier
from tiers.services import tiers_evaluate_all

from .customers import create_members, match_members
from .purchases import record_purchases
from .report import ImportReport, collect_report
from .staging import stage
from .validation import validate

WORK_MEM = "256MB"  # SET LOCAL for the import's transaction
TEMP_BUFFERS = "512MB"  # session-local buffers for the staging tables, allocated as used
_LOCK_KEY = 0x6361726174  # pg_advisory_xact_lock: one history import at a time


def launch_at(day: date) -> datetime:
    """A launch date means the start of that day in the program's time zone."""
    zone = ZoneInfo(settings.TIME_ZONE)
    return datetime(day.year, day.month, day.day, tzinfo=zone)


class _DryRun(Exception):
    """Raised at the end of a dry run to roll the whole import back."""


def history_import(
    *,
    path_or_file: str | Path | IO,
    dry_run: bool,
    launch: datetime | date | None = None,
    actor: User | None = None,
) -> ImportReport:
    """Import historical orders from a CSV (see the module docstring for the format).

    One transaction: an unexpected error leaves nothing written; a dry run does everything
    and rolls back. Raises DomainError for a file that cannot be read as a whole (no
    header, missing columns, malformed CSV, not UTF-8); bad rows are rejected one by one
    in the report instead."""
    if connection.vendor != "postgresql":
        raise DomainError(
            "The history import needs PostgreSQL (it loads the file with COPY and works in "
            "SQL); point DATABASE_URL at a PostgreSQL database and run it again."
        )
    if launch is None:
        launch = timezone.now()
    elif not isinstance(launch, datetime):
        launch = launch_at(launch)
    elif timezone.is_naive(launch):
        raise DomainError("The launch time needs a time zone.", field="launch")
    report = ImportReport(dry_run=dry_run, launch=launch)
    started = time.monotonic()
    stream, close = _open(path_or_file)
    try:
        with transaction.atomic():
            _Import(report, stream, actor).run()
            done = time.monotonic()
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    finally:
        if close:
            stream.close()
    report.timings["rollback" if dry_run else "commit"] = round(time.monotonic() - done, 3)
    report.seconds = time.monotonic() - started
    return report


def _open(path_or_file) -> tuple[IO, bool]:
    if isinstance(path_or_file, str | Path):
        try:
            return open(path_or_file, "rb"), True  # closed by the caller
        except OSError as exc:
            raise DomainError(f"Cannot open {path_or_file}: {exc.strerror}.") from None
    if hasattr(path_or_file, "seek"):
        path_or_file.seek(0)
    return path_or_file, False


class _Import:
    """The steps of one import, in order. Works on session temporary tables (dropped at
    the end, and ON COMMIT DROP in any case); every statement is over all rows."""

    def __init__(self, report: ImportReport, stream: IO, actor: User | None):
        self.report = report
        self.stream = stream
        self.actor_id = actor.pk if actor else None
        self.now = timezone.now()
        self.tables = {
            "member": Member._meta.db_table,
            "ledger": LedgerEntry._meta.db_table,
            "purchase": Purchase._meta.db_table,
            "store": Store._meta.db_table,
            "rate": ExchangeRate._meta.db_table,
            "membertier": MemberTier._meta.db_table,
            "tier": Tier._meta.db_table,
        }
        self._lap = time.monotonic()

    def _timed(self, step: str) -> None:
        now = time.monotonic()
        self.report.timings[step] = round(now - self._lap, 3)
        self._lap = now

    def sql(self, statement: str, params: dict | None = None) -> int:
        self.cur.execute(statement.format(**self.tables), params or {})
        return self.cur.rowcount

    def one(self, statement: str, params: dict | None = None):
        self.cur.execute(statement.format(**self.tables), params or {})
        return self.cur.fetchone()

    def run(self) -> None:
        with connection.cursor() as cur:
            self.cur = cur
            # Two imports of overlapping files at once would both pass the "already
            # imported" anti-join; serialise them (released at the end of the transaction).
            self.sql("SELECT pg_advisory_xact_lock(%(key)s)", {"key": _LOCK_KEY})
            self._tune()
            self.stage()
            self.validate()
            self.match_members()
            self.create_members()
            self.record_purchases()
            self.evaluate_tiers()
            self.collect_report()
            self.sql(
                "DROP TABLE IF EXISTS imp_stage, imp_rows, imp_codes, imp_newm, imp_newagg, "
                "imp_created, imp_prev, imp_new, imp_bal"
            )

    def _tune(self) -> None:
        """Memory for this transaction's sorts and hashes over a million rows, and for its
        temporary tables (temp_buffers can only be raised before the session's first
        temporary table: skipped otherwise)."""
        self.sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
        try:
            with transaction.atomic():
                self.sql(f"SET LOCAL temp_buffers = '{TEMP_BUFFERS}'")
        except DatabaseError:
            pass

    def stage(self) -> None:
        stage(self)

    def validate(self) -> None:
        validate(self)

    def match_members(self) -> None:
        match_members(self)

    def create_members(self) -> None:
        create_members(self)

    def record_purchases(self) -> None:
        record_purchases(self)

    # 6. Tiers as of the launch date (initialises the new members' status rows). --------

    def evaluate_tiers(self) -> None:
        result = tiers_evaluate_all(now=self.report.launch)
        self.report.tiers_upgraded = result.upgraded
        self.report.tiers_downgraded = result.downgraded
        self._timed("tiers")

    def collect_report(self) -> None:
        collect_report(self)
