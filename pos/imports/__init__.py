"""The retroactive launch import: historical orders from the ERP / web shop export.

`history_import` loads a CSV of past orders, creates or matches the members, records the
purchases (channel "import"), credits retroactive carats once per order, writes the
purchase facts and recomputes the tiers as of the launch date. One transaction; a dry run
does all of it and rolls back, so its numbers are the real ones.

It is set-based, because it must take a million rows: the file is COPYed into a temporary
staging table and everything after that is a few dozen SQL statements over all rows, never
a query per row (PostgreSQL only):

1. COPY the CSV into `imp_stage` (text columns, a line number per row);
2. `imp_rows`: trim, parse and validate every row in one CREATE TABLE AS (the rate valid
   at the order's time by a LATERAL lookup, EUR amount rounded half up, carats), each row
   with its first failing reason; then duplicates in the file, and orders already
   imported (receipt key exists: skipped);
3. match members by external id, then e-mail, then phone (UPDATE ... FROM);
4. new customers (one per e-mail; rows without an e-mail join them by external id or
   phone): codes generated in Python and COPYed in, collisions drawn again, then one
   INSERT ... SELECT with their balance and purchase facts already summed;
5. INSERT the purchases ... ON CONFLICT (receipt_key) DO NOTHING RETURNING: only the rows
   actually inserted go on; one UPDATE ... FROM (aggregate) moves the existing members'
   balances and facts (RETURNING the new balance under the row lock); one INSERT of the
   ledger entries, balance_after = previous balance + running sum (window over
   occurred_at, id);
6. tiers.services.tiers_evaluate_all(now=launch) (it also gives new members a status).

CSV format (UTF-8, comma-separated, a header row; column order is free, unknown columns
are ignored):

    order_id     the order's id in the ERP / web shop (required, at most 64 characters)
    email        the customer's e-mail (matched case-insensitively)
    phone        the customer's phone (matched ignoring spaces, dots, dashes, brackets)
    external_id  the ERP's / web shop's own customer id
    occurred_at  ISO date (2024-05-31: noon in the store's time zone) or datetime
                 (2024-05-31T15:04[:05[.ffffff]], in the store's zone, or with an offset:
                 Z, +02, +0200, +02:00)
    store        the store code; empty = online (the program's zone, CARAT_TIME_ZONE)
    amount       the order total, a positive decimal with a dot and at most 2 decimals
    currency     3-letter code; EUR, or a currency with an exchange rate valid at the date

At least one of email / phone / external_id must be given per row. Members are matched by
external id, then e-mail, then phone (a phone shared by several members matches none).
A customer who matches nobody becomes a new member (source "import", joined at their first
order in the file) — this needs an e-mail; without one the row is rejected.

Rejected rows (with their line number; the header is line 1) do not stop the import of the
others. The idempotency key is the receipt key "import:<store code or ->:<order id>": an
order already imported is skipped, so running a file twice awards nothing the second time.
Historical purchases earn the base rate (program carats per EUR x the entry tier's
multiplier); bonus campaigns, caps, sign-up and referral rewards do not apply to them.
"""

# ruff: noqa: S608 - SQL text is built only from table names (model metadata), column
# names (the CSV header is mapped to c0..cN) and constants; every value is a parameter.

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from campaigns.services import program
from loyalty.kernel.errors import DomainError
from members import codes
from members.models import LedgerEntry, Member, User
from pos.models import Channel, ExchangeRate, Purchase, Store
from tiers.models import MemberTier, Tier
from tiers.selectors import entry_tier
from tiers.services import tiers_evaluate_all

COLUMNS = (
    "order_id",
    "email",
    "phone",
    "external_id",
    "occurred_at",
    "store",
    "amount",
    "currency",
)
REQUIRED_COLUMNS = ("order_id", "occurred_at", "amount", "currency")
IDENTIFIER_COLUMNS = ("email", "phone", "external_id")
MAX_REJECTIONS = 100  # rejected rows kept in the report with their reason (first by line)
MAX_CARATS = 2**31 - 1
WORK_MEM = "256MB"  # SET LOCAL for the import's transaction
TEMP_BUFFERS = "512MB"  # session-local buffers for the staging tables, allocated as used
_LOCK_KEY = 0x6361726174  # pg_advisory_xact_lock: one history import at a time
_CODE_ATTEMPTS = 8

# Date, or date and time with an optional offset (only with a time).
_DATE_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?)?$"
_AMOUNT_RE = r"^\d{1,10}(\.\d{1,2})?$"
_EMAIL_RE = r"^[^@\s]+@[^@\s]+$"  # the rough check; then Django's EmailValidator
# The reasons that come before 'bad_email' in the order of reasons (see validate).
_BEFORE_BAD_EMAIL = "('missing_order_id', 'order_id_too_long', 'no_customer')"


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ImportReport:
    dry_run: bool
    launch: datetime
    rows_read: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    members_matched: int = 0
    members_created: int = 0
    purchases_imported: int = 0
    purchases_skipped: int = 0
    carats_awarded: int = 0
    amount_eur: Decimal = Decimal("0.00")
    tiers_upgraded: int = 0
    tiers_downgraded: int = 0
    tier_counts: dict[str, int] = field(default_factory=dict)
    tier_counts_imported: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def summary_lines(self, *, max_rejections: int = 20) -> list[str]:
        head = "DRY RUN — nothing was written" if self.dry_run else "Import done"
        lines = [
            f"{head} (tiers as of {timezone.localtime(self.launch):%Y-%m-%d %H:%M %Z}, "
            f"{self.seconds:.1f} s)",
            f"rows read:            {self.rows_read}",
            f"rejected:             {self.rejected}",
        ]
        for code, count in sorted(self.rejected_by_reason.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {REASON_TITLES.get(code, code)}: {count}")
        lines += [
            f"members matched:      {self.members_matched}",
            f"members created:      {self.members_created}",
            f"purchases imported:   {self.purchases_imported}",
            f"skipped (already imported): {self.purchases_skipped}",
            f"carats awarded:       {self.carats_awarded} (for {self.amount_eur} EUR)",
            f"tier upgrades:        {self.tiers_upgraded}"
            + (f", downgrades: {self.tiers_downgraded}" if self.tiers_downgraded else ""),
            "tiers of the imported members: " + _counts(self.tier_counts_imported),
            "tiers of all members:          " + _counts(self.tier_counts),
        ]
        if self.rejections and max_rejections:
            shown = self.rejections[:max_rejections]
            lines.append(f"first {len(shown)} rejected row(s):")
            lines += [f"  line {r.line}: {r.reason}" for r in shown]
        return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "-"


REASON_TITLES = {
    "missing_order_id": "missing order id",
    "order_id_too_long": "order id too long",
    "no_customer": "no customer identifier",
    "bad_email": "invalid e-mail",
    "external_id_too_long": "external id too long",
    "phone_too_long": "phone too long",
    "unknown_store": "unknown store code",
    "bad_date": "bad date",
    "future_date": "dated in the future",
    "negative_amount": "negative amount",
    "zero_amount": "zero amount",
    "bad_amount": "bad amount",
    "unknown_currency": "unknown currency",
    "no_rate": "no exchange rate at the date",
    "amount_too_large": "amount too large",
    "duplicate": "duplicate order in the file",
    "email_conflict": "e-mail with several external ids",
    "external_id_conflict": "external id with several e-mails",
    "no_member": "no member and no e-mail to create one",
    "erased_member": "the member's account is erased",
}


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

    # 1. COPY the file into a staging table of text columns. ----------------------------

    def stage(self) -> None:
        header = self._header()
        cols = ", ".join(f"c{i} text" for i in range(len(header)))
        self.sql(
            "CREATE TEMPORARY TABLE imp_stage "
            "(line bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), " + cols + ") "
            "ON COMMIT DROP"
        )
        self.columns = {name: f"s.c{i}" for i, name in enumerate(header) if name in COLUMNS}
        copy_sql = "COPY imp_stage ({}) FROM STDIN (FORMAT csv)".format(
            ", ".join(f"c{i}" for i in range(len(header)))
        )
        try:
            with self.cur.cursor.copy(copy_sql) as copy:
                while chunk := self.stream.read(1 << 20):
                    copy.write(chunk)
        except (psycopg.errors.DataError, psycopg.errors.InvalidTextRepresentation) as exc:
            raise DomainError(_copy_error(exc), code="bad_file") from None
        self.report.rows_read = self.one("SELECT count(*) FROM imp_stage")[0]
        self._timed("copy")

    def _header(self) -> list[str]:
        first = self.stream.readline()
        if isinstance(first, bytes):
            try:
                first = first.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise DomainError("The file must be UTF-8 encoded.", code="bad_file") from None
        first = first.lstrip("\ufeff").strip("\r\n")
        if not first.strip():
            raise DomainError("The file is empty: a header row is expected.", code="bad_file")
        header = [name.strip().lower() for name in next(csv.reader([first]))]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise DomainError(
                f"Missing column(s): {', '.join(missing)}. Expected: {', '.join(COLUMNS)}.",
                code="bad_file",
            )
        if not any(c in header for c in IDENTIFIER_COLUMNS):
            raise DomainError(
                "At least one of the columns email, phone, external_id is needed.",
                code="bad_file",
            )
        dupes = {c for c in header if c and header.count(c) > 1}
        if dupes:
            raise DomainError(f"Column(s) repeated: {', '.join(sorted(dupes))}.", code="bad_file")
        return header

    # 2. Normalise and validate in SQL: one row per line with its first failing reason. --

    def validate(self) -> None:
        def col(name: str) -> str:
            if name not in self.columns:
                return "NULL::text"
            return f"nullif(btrim({self.columns[name]}, E' \\t'), '')"

        prog = program()
        earn = prog.carats_per_eur * entry_tier().earn_multiplier
        # Casts only run inside CASE branches whose conditions proved the text well-formed
        # (a plain cast of "2024-02-30" would abort the whole import).
        self.sql(
            f"""
            CREATE TEMPORARY TABLE imp_rows ON COMMIT DROP AS
            WITH raw AS (
                SELECT s.line,
                       {col("order_id")} AS order_id,
                       lower({col("email")}) AS email,
                       {col("phone")} AS phone,
                       {col("external_id")} AS external_id,
                       {col("store")} AS store_code,
                       {col("occurred_at")} AS occurred_text,
                       {col("amount")} AS amount_text,
                       upper({col("currency")}) AS currency
                FROM imp_stage s
            ),
            parsed AS MATERIALIZED (
                SELECT raw.*, st.id AS store_id,
                       coalesce(st.time_zone, %(default_tz)s) AS tz,
                       coalesce(raw.occurred_text ~ %(date_re)s, false) AS date_ok,
                       coalesce(raw.amount_text ~ %(amount_re)s, false) AS amount_ok,
                       -- where the offset starts in the time part (0: none, or "Z")
                       strpos(substr(raw.occurred_text, 12), '+')
                           + strpos(substr(raw.occurred_text, 12), '-') AS offset_at
                FROM raw LEFT JOIN {{store}} st ON st.code = raw.store_code
            ),
            dated AS MATERIALIZED (
                SELECT parsed.*, {_occurred_at_sql("occurred_text")} AS occurred_at,
                    CASE WHEN amount_ok THEN amount_text::numeric(12, 2) END AS amount
                FROM parsed
            ),
            rated AS (
                SELECT dated.*,
                       CASE WHEN dated.currency = 'EUR' THEN 1.0 ELSE r.rate_to_eur END AS rate,
                       (dated.currency = 'EUR' OR k.currency IS NOT NULL) AS currency_known
                FROM dated
                LEFT JOIN (SELECT DISTINCT currency FROM {{rate}}) k
                       ON k.currency = dated.currency
                LEFT JOIN LATERAL (
                    SELECT x.rate_to_eur FROM {{rate}} x
                    WHERE dated.currency <> 'EUR' AND x.currency = dated.currency
                      AND x.valid_from <= dated.occurred_at
                    ORDER BY x.valid_from DESC LIMIT 1
                ) r ON true
            ),
            priced AS (
                SELECT rated.*, round(amount * rate, 2) AS amount_eur,
                       floor(round(amount * rate, 2) * %(earn)s) AS carats_n
                FROM rated
            )
            SELECT line, order_id, email, phone,
                   nullif(regexp_replace(phone, '[^0-9+]', '', 'g'), '') AS phone_norm,
                   external_id, store_code, store_id, tz, occurred_text, occurred_at,
                   amount_text, amount, currency, rate, amount_eur,
                   CASE WHEN carats_n <= %(max_carats)s THEN carats_n::int END AS carats,
                   'import:' || coalesce(store_code, '-') || ':' || order_id AS receipt_key,
                   CASE
                       WHEN order_id IS NULL THEN 'missing_order_id'
                       WHEN length(order_id) > 64 THEN 'order_id_too_long'
                       WHEN email IS NULL AND phone IS NULL AND external_id IS NULL
                           THEN 'no_customer'
                       WHEN email IS NOT NULL AND (email !~ %(email_re)s OR length(email) > 254)
                           THEN 'bad_email'
                       WHEN length(external_id) > 64 THEN 'external_id_too_long'
                       WHEN length(phone) > 32 THEN 'phone_too_long'
                       WHEN store_code IS NOT NULL AND store_id IS NULL THEN 'unknown_store'
                       WHEN occurred_at IS NULL THEN 'bad_date'
                       WHEN occurred_at > %(latest)s THEN 'future_date'
                       WHEN amount_text LIKE '-%%' THEN 'negative_amount'
                       WHEN NOT amount_ok THEN 'bad_amount'
                       WHEN amount = 0 THEN 'zero_amount'
                       WHEN currency IS NULL OR NOT currency_known THEN 'unknown_currency'
                       WHEN rate IS NULL THEN 'no_rate'
                       WHEN amount_eur > %(max_amount)s OR carats_n > %(max_carats)s
                           THEN 'amount_too_large'
                   END AS reason,
                   NULL::bigint AS dup_of,
                   false AS already,
                   NULL::bigint AS member_id,
                   NULL::bigint AS new_rn
            FROM priced
            """,
            {
                "default_tz": settings.TIME_ZONE,
                "date_re": _DATE_RE,
                "amount_re": _AMOUNT_RE,
                "email_re": _EMAIL_RE,
                "earn": earn,
                "max_carats": MAX_CARATS,
                "max_amount": Decimal("9999999999.99"),
                "latest": self.now + timedelta(minutes=settings.CARAT_FUTURE_TOLERANCE_MINUTES),
            },
        )
        self._check_emails()
        self.sql("ANALYZE imp_rows")
        # The same order twice in the file: the first valid line wins, the others are
        # rejected (pointing at it).
        self.sql(
            """
            UPDATE imp_rows r SET reason = 'duplicate', dup_of = d.first_line
            FROM (
                SELECT line, first_value(line) OVER w AS first_line,
                       row_number() OVER w AS n
                FROM imp_rows
                WHERE reason IS NULL AND receipt_key IN (
                    SELECT receipt_key FROM imp_rows WHERE reason IS NULL
                    GROUP BY receipt_key HAVING count(*) > 1
                )
                WINDOW w AS (PARTITION BY receipt_key ORDER BY line)
            ) d
            WHERE r.line = d.line AND d.n > 1
            """
        )
        # Idempotency: orders already imported (by an earlier run) are skipped.
        self.sql(
            """
            UPDATE imp_rows r SET already = true
            WHERE r.reason IS NULL
              AND EXISTS (SELECT 1 FROM {purchase} p WHERE p.receipt_key = r.receipt_key)
            """
        )
        self._timed("validate")

    def _check_emails(self) -> None:
        """The forms' validator (Django's EmailValidator) on every distinct e-mail that
        passed the SQL's rough check: the import accepts what signing up accepts, no
        more. Streamed from a server-side cursor; only the bad ones come back to SQL."""
        bad = []
        with self.cur.cursor.connection.cursor(name="imp_emails") as emails:
            emails.itersize = 20_000
            emails.execute(
                f"SELECT DISTINCT email FROM imp_rows WHERE email IS NOT NULL "
                f"AND (reason IS NULL OR reason NOT IN {_BEFORE_BAD_EMAIL})"
            )
            for (email,) in emails:
                try:
                    validate_email(email)
                except ValidationError:
                    bad.append(email)
        if bad:
            self.sql(
                """
                UPDATE imp_rows SET reason = 'bad_email'
                WHERE email = ANY(%(bad)s)
                  AND (reason IS NULL OR reason NOT IN """
                + _BEFORE_BAD_EMAIL
                + ")",
                {"bad": bad},
            )

    # 3. Match members: external id, then e-mail (any case), then phone (if unique). ----

    def match_members(self) -> None:
        todo = "r.reason IS NULL AND NOT r.already AND r.member_id IS NULL"
        # An erased member is closed: a row that finds one is rejected (not credited, and
        # no new member is made with the erased account's address).
        erased = "CASE WHEN m.erased_at IS NOT NULL THEN 'erased_member' END"
        self.sql(
            f"""
            UPDATE imp_rows r SET member_id = m.id, reason = {erased} FROM {{member}} m
            WHERE {todo} AND r.external_id = m.external_id
            """
        )
        self.sql(
            f"""
            UPDATE imp_rows r SET member_id = m.id, reason = {erased} FROM {{member}} m
            WHERE {todo} AND r.email = lower(m.email)
            """
        )
        self.sql(
            f"""
            UPDATE imp_rows r SET member_id = p.id
            FROM (
                SELECT regexp_replace(m.phone, '[^0-9+]', '', 'g') AS phone_norm,
                       min(m.id) AS id
                FROM {{member}} m
                WHERE m.phone <> '' AND regexp_replace(m.phone, '[^0-9+]', '', 'g') IN (
                    SELECT r.phone_norm FROM imp_rows r WHERE {todo}
                )
                GROUP BY 1 HAVING count(*) = 1
            ) p
            WHERE {todo} AND r.phone_norm = p.phone_norm
            """
        )
        self._timed("match")

    # 4. Create the members nobody matched: one per e-mail, with fresh codes. ----------

    def create_members(self) -> None:
        todo = "reason IS NULL AND NOT already AND member_id IS NULL"
        # A new customer must be one person: an e-mail given with two external ids, or an
        # external id given with two e-mails, is a contradiction the file must resolve.
        self.sql(
            f"""
            UPDATE imp_rows SET reason = 'email_conflict'
            WHERE {todo} AND email IN (
                SELECT email FROM imp_rows WHERE {todo} AND email IS NOT NULL
                GROUP BY email HAVING count(DISTINCT external_id) > 1
            )
            """
        )
        self.sql(
            f"""
            UPDATE imp_rows SET reason = 'external_id_conflict'
            WHERE {todo} AND external_id IN (
                SELECT external_id FROM imp_rows
                WHERE {todo} AND email IS NOT NULL AND external_id IS NOT NULL
                GROUP BY external_id HAVING count(DISTINCT email) > 1
            )
            """
        )
        # One new member per e-mail; the rows without an e-mail join the new customer
        # with the same external id, or else the same phone (if only one has it).
        self.sql(
            f"""
            CREATE TEMPORARY TABLE imp_newm ON COMMIT DROP AS
            SELECT row_number() OVER (ORDER BY min(line)) AS rn, email,
                   max(external_id) AS external_id,
                   (array_agg(phone ORDER BY line) FILTER (WHERE phone IS NOT NULL))[1]
                       AS phone
            FROM imp_rows WHERE {todo} AND email IS NOT NULL
            GROUP BY email
            """
        )
        self.sql("ANALYZE imp_newm")
        todo_r = "r.reason IS NULL AND NOT r.already AND r.member_id IS NULL"
        self.sql(
            f"""
            UPDATE imp_rows r SET new_rn = n.rn FROM imp_newm n
            WHERE {todo_r} AND r.email = n.email
            """
        )
        self.sql(
            f"""
            UPDATE imp_rows r SET new_rn = n.rn FROM imp_newm n
            WHERE {todo_r} AND r.email IS NULL AND r.external_id = n.external_id
            """
        )
        self.sql(
            f"""
            UPDATE imp_rows r SET new_rn = p.rn
            FROM (
                SELECT regexp_replace(phone, '[^0-9+]', '', 'g') AS phone_norm, min(rn) AS rn
                FROM imp_newm WHERE phone IS NOT NULL
                GROUP BY 1 HAVING count(*) = 1
            ) p
            WHERE {todo_r} AND r.email IS NULL AND r.new_rn IS NULL
              AND r.phone_norm = p.phone_norm
            """
        )
        self.sql(f"UPDATE imp_rows SET reason = 'no_member' WHERE {todo} AND new_rn IS NULL")
        # Fresh statistics: the planner must see that member_id and new_rn are now filled
        # in (with stale ones it nests loops over the whole table below).
        self.sql("ANALYZE imp_rows")
        # The new members are inserted with their balance and purchase facts already
        # summed up: an UPDATE of each new row right after would cost as much again.
        self.sql(
            """
            CREATE TEMPORARY TABLE imp_newagg ON COMMIT DROP AS
            SELECT new_rn AS rn, sum(carats) AS carats, count(*) AS n, sum(amount_eur) AS eur,
                   min(occurred_at) AS first_at, max(occurred_at) AS last_at
            FROM imp_rows WHERE reason IS NULL AND new_rn IS NOT NULL
            GROUP BY new_rn
            """
        )
        self.sql(
            "CREATE TEMPORARY TABLE imp_created (id bigint PRIMARY KEY, email text) ON COMMIT DROP"
        )
        new = self.one("SELECT count(*) FROM imp_newm")[0]
        if not new:
            return
        self._allocate_codes(new)
        cols, select, params = _insert_columns(
            Member,
            {
                "member_number": "c.member_number",
                "email": "n.email",
                "phone": "coalesce(n.phone, '')",
                "external_id": "n.external_id",
                "source": "%(source)s",
                "joined_at": "a.first_at",
                "qr_token": "c.qr_token",
                "referral_code": "c.referral_code",
                "balance": "a.carats",
                "first_purchase_at": "a.first_at",
                "last_purchase_at": "a.last_at",
                "purchase_count": "a.n",
                "lifetime_spend_eur": "a.eur",
            },
            now=self.now,
        )
        self.sql(
            f"""
            WITH ins AS (
                INSERT INTO {{member}} ({cols})
                SELECT {select}
                FROM imp_newm n
                JOIN imp_codes c ON c.rn = n.rn
                JOIN imp_newagg a ON a.rn = n.rn
                ORDER BY n.rn
                RETURNING id, email
            )
            INSERT INTO imp_created (id, email) SELECT id, email FROM ins
            """,
            {**params, "source": Member.Source.IMPORT},
        )
        self.report.members_created = self.cur.rowcount
        self.sql("ANALYZE imp_created")
        self.sql(
            """
            UPDATE imp_rows r SET member_id = c.id
            FROM imp_newm n JOIN imp_created c ON c.email = n.email
            WHERE r.new_rn = n.rn
            """
        )
        self._timed("create_members")

    def _allocate_codes(self, count: int) -> None:
        """Member numbers, QR tokens and referral codes for `count` new members: generated
        here, COPYed in, and any that collide with an existing member are drawn again."""
        self.sql(
            "CREATE TEMPORARY TABLE imp_codes (rn bigint PRIMARY KEY, member_number text, "
            "qr_token text, referral_code text) ON COMMIT DROP"
        )
        missing = list(range(1, count + 1))
        taken: set[str] = set()
        for _attempt in range(_CODE_ATTEMPTS):
            numbers = _unique(codes.new_member_numbers, len(missing), taken)
            tokens = _unique(codes.new_qr_tokens, len(missing), taken)
            referrals = _unique(codes.new_referral_codes, len(missing), taken)
            with self.cur.cursor.copy(
                "COPY imp_codes (rn, member_number, qr_token, referral_code) FROM STDIN"
            ) as copy:
                for row in zip(missing, numbers, tokens, referrals, strict=True):
                    copy.write_row(row)
            collisions = sum(
                self.sql(f"DELETE FROM imp_codes c USING {{member}} m WHERE m.{code} = c.{code}")
                for code in ("member_number", "qr_token", "referral_code")
            )
            if not collisions:
                return
            self.cur.execute("SELECT rn FROM imp_codes")
            have = {rn for (rn,) in self.cur.fetchall()}
            missing = [rn for rn in range(1, count + 1) if rn not in have]
        raise DomainError("Could not allocate member numbers, run the import again.")

    # 5. Purchases, balances and facts, ledger entries. ---------------------------------

    def record_purchases(self) -> None:
        ok = "r.reason IS NULL AND NOT r.already"
        self.sql(
            f"""
            CREATE TEMPORARY TABLE imp_prev ON COMMIT DROP AS
            SELECT m.id AS member_id, m.balance FROM {{member}} m
            WHERE m.id IN (SELECT r.member_id FROM imp_rows r WHERE {ok} AND r.new_rn IS NULL)
            UNION ALL
            SELECT id, 0 FROM imp_created
            """
        )
        self.sql(
            "CREATE TEMPORARY TABLE imp_new (id bigint, member_id bigint, store_id bigint, "
            "receipt_id text, receipt_key text, occurred_at timestamptz, "
            "amount_eur numeric(12, 2), carats_awarded int) ON COMMIT DROP"
        )
        cols, select, params = _insert_columns(
            Purchase,
            {
                "member_id": "r.member_id",
                "channel": "%(channel)s",
                "store_id": "r.store_id",
                "receipt_id": "r.order_id",
                "receipt_key": "r.receipt_key",
                "fingerprint": "encode(sha256(convert_to(concat_ws('|', r.member_id, "
                "r.occurred_at, r.amount, r.currency), 'UTF8')), 'hex')",
                "amount": "r.amount",
                "currency": "r.currency",
                "rate_to_eur": "r.rate",
                "amount_eur": "r.amount_eur",
                "occurred_at": "r.occurred_at",
                "carats_awarded": "r.carats",
                "carats_status": "'credited'",
                "earning_reason": "r.carats || ' for ' || r.amount_eur || ' EUR (retroactive: "
                "base rate, no campaigns)'",
                # Provisional: exact unless a sale of the member commits meanwhile (fixed below).
                "balance_after": "pv.balance + sum(r.carats) OVER (PARTITION BY r.member_id "
                "ORDER BY r.occurred_at, r.line)",
                "recorded_by_id": "%(actor)s",
                "client": "'history import'",
                "created_at": "%(now)s",
            },
            now=self.now,
        )
        # ON CONFLICT DO NOTHING: an order recorded meanwhile is left alone, and only the
        # purchases actually inserted (RETURNING) move balances and get ledger entries.
        # Ordered so that ids follow (member, occurred_at, line).
        self.sql(
            f"""
            WITH ins AS (
                INSERT INTO {{purchase}} ({cols})
                SELECT {select}
                FROM imp_rows r JOIN imp_prev pv ON pv.member_id = r.member_id
                WHERE {ok}
                ORDER BY r.member_id, r.occurred_at, r.line
                ON CONFLICT (receipt_key) DO NOTHING
                RETURNING id, member_id, store_id, receipt_id, receipt_key, occurred_at,
                          amount_eur, carats_awarded
            )
            INSERT INTO imp_new SELECT * FROM ins
            """,
            {**params, "channel": Channel.IMPORT, "actor": self.actor_id, "now": self.now},
        )
        self.sql("ANALYZE imp_new")
        self._timed("purchases")
        # One UPDATE moves the existing members' balances and purchase facts; RETURNING
        # gives the new balance under the row lock, from which balance_after is exact.
        self.sql(
            "CREATE TEMPORARY TABLE imp_bal (member_id bigint PRIMARY KEY, balance int, "
            "added int) ON COMMIT DROP"
        )
        self.sql(
            """
            WITH agg AS (
                SELECT member_id, sum(carats_awarded) AS carats, count(*) AS n,
                       sum(amount_eur) AS eur, min(occurred_at) AS first_at,
                       max(occurred_at) AS last_at
                FROM imp_new n
                WHERE NOT EXISTS (SELECT 1 FROM imp_created c WHERE c.id = n.member_id)
                GROUP BY member_id
            ),
            moved AS (
                UPDATE {member} m SET
                    balance = m.balance + agg.carats,
                    purchase_count = m.purchase_count + agg.n,
                    lifetime_spend_eur = m.lifetime_spend_eur + agg.eur,
                    first_purchase_at = LEAST(m.first_purchase_at, agg.first_at),
                    last_purchase_at = GREATEST(m.last_purchase_at, agg.last_at),
                    updated_at = %(now)s
                FROM agg WHERE m.id = agg.member_id
                RETURNING m.id, m.balance, agg.carats
            )
            INSERT INTO imp_bal (member_id, balance, added) SELECT * FROM moved
            """,
            {"now": self.now},
        )
        # New members were inserted with the sums of all their rows; if an order of theirs
        # was recorded meanwhile (ON CONFLICT above), recompute them from what was inserted.
        self.sql(
            """
            WITH got AS (
                SELECT n.member_id, sum(n.carats_awarded) AS carats, count(*) AS n,
                       sum(n.amount_eur) AS eur, min(n.occurred_at) AS first_at,
                       max(n.occurred_at) AS last_at
                FROM imp_new n JOIN imp_created c ON c.id = n.member_id
                GROUP BY n.member_id
            ),
            short AS (
                SELECT c.id, got.carats, got.n, got.eur, got.first_at, got.last_at
                FROM imp_created c
                JOIN imp_newm nm ON nm.email = c.email
                JOIN imp_newagg a ON a.rn = nm.rn
                LEFT JOIN got ON got.member_id = c.id
                WHERE a.n <> coalesce(got.n, 0)
            )
            UPDATE {member} m SET
                balance = coalesce(short.carats, 0),
                purchase_count = coalesce(short.n, 0),
                lifetime_spend_eur = coalesce(short.eur, 0),
                first_purchase_at = short.first_at,
                last_purchase_at = short.last_at
            FROM short WHERE m.id = short.id
            """
        )
        self.sql(
            """
            INSERT INTO imp_bal (member_id, balance, added)
            SELECT n.member_id, sum(n.carats_awarded), sum(n.carats_awarded)
            FROM imp_new n JOIN imp_created c ON c.id = n.member_id
            GROUP BY n.member_id
            """
        )
        # A sale of one of these members committed between the purchase insert and the
        # UPDATE: shift that member's provisional purchase balances (normally no row).
        self.sql(
            """
            UPDATE {purchase} p
            SET balance_after = p.balance_after + (b.balance - b.added - pv.balance)
            FROM imp_new n
            JOIN imp_bal b ON b.member_id = n.member_id
            JOIN imp_prev pv ON pv.member_id = n.member_id
            WHERE p.id = n.id AND b.balance - b.added <> pv.balance
            """
        )
        self._timed("balances")
        cols, select, params = _insert_columns(
            LedgerEntry,
            {
                "member_id": "x.member_id",
                "carats": "x.carats_awarded",
                "kind": "%(kind)s",
                "reason": "'Retroactive: order ' || x.receipt_id || ' of ' || "
                "to_char(x.occurred_at AT TIME ZONE coalesce(s.time_zone, %(default_tz)s), "
                "'YYYY-MM-DD')",
                "key": "'retro:' || x.receipt_key",
                "actor_id": "%(actor)s",
                "balance_after": "x.balance_after",
                "occurred_at": "x.occurred_at",
                "created_at": "%(now)s",
            },
            now=self.now,
        )
        self.sql(
            f"""
            INSERT INTO {{ledger}} ({cols})
            SELECT {select}
            FROM (
                SELECT n.*, b.balance - b.added + sum(n.carats_awarded) OVER (
                    PARTITION BY n.member_id ORDER BY n.occurred_at, n.id
                ) AS balance_after
                FROM imp_new n JOIN imp_bal b ON b.member_id = n.member_id
            ) x
            LEFT JOIN {{store}} s ON s.id = x.store_id
            WHERE x.carats_awarded > 0
            ORDER BY x.member_id, x.occurred_at, x.id
            """,
            {
                **params,
                "kind": LedgerEntry.Kind.RETROACTIVE,
                "actor": self.actor_id,
                "default_tz": settings.TIME_ZONE,
                "now": self.now,
            },
        )
        self._timed("ledger")

    # 6. Tiers as of the launch date (initialises the new members' status rows). --------

    def evaluate_tiers(self) -> None:
        result = tiers_evaluate_all(now=self.report.launch)
        self.report.tiers_upgraded = result.upgraded
        self.report.tiers_downgraded = result.downgraded
        self._timed("tiers")

    def collect_report(self) -> None:
        report = self.report
        report.rejected, report.purchases_skipped = self.one(
            "SELECT count(*) FILTER (WHERE reason IS NOT NULL), "
            "count(*) FILTER (WHERE reason IS NULL AND already) FROM imp_rows"
        )
        self.cur.execute(
            "SELECT reason, count(*) FROM imp_rows WHERE reason IS NOT NULL GROUP BY reason"
        )
        report.rejected_by_reason = dict(self.cur.fetchall())
        self.cur.execute(
            """
            SELECT line, reason, order_id, email, external_id, store_code, occurred_text,
                   to_char(occurred_at AT TIME ZONE tz, 'YYYY-MM-DD'), amount_text, currency,
                   dup_of, length(phone)
            FROM imp_rows WHERE reason IS NOT NULL ORDER BY line LIMIT %(n)s
            """,
            {"n": MAX_REJECTIONS},
        )
        report.rejections = [Rejection(row[0], _reason(*row[1:])) for row in self.cur.fetchall()]
        imported, carats, eur, matched = self.one(
            """
            SELECT count(*), coalesce(sum(n.carats_awarded), 0),
                   coalesce(sum(n.amount_eur), 0.00),
                   count(DISTINCT n.member_id) FILTER (WHERE c.id IS NULL)
            FROM imp_new n LEFT JOIN imp_created c ON c.id = n.member_id
            """
        )
        report.purchases_imported, report.carats_awarded = imported, carats
        report.amount_eur, report.members_matched = eur, matched
        tier_counts = """
            SELECT t.name, count(*) FROM {membertier} s JOIN {tier} t ON t.id = s.tier_id
            {where} GROUP BY t.name, t.rank ORDER BY t.rank
        """
        self.cur.execute(tier_counts.format(where="", **self.tables))
        report.tier_counts = dict(self.cur.fetchall())
        self.cur.execute(
            tier_counts.format(
                where="WHERE s.member_id IN (SELECT member_id FROM imp_bal)", **self.tables
            )
        )
        report.tier_counts_imported = dict(self.cur.fetchall())
        self._timed("report")


def _copy_error(exc: psycopg.Error) -> str:
    """PostgreSQL counts COPY lines from the first data line; the file has a header."""
    message = exc.diag.message_primary or str(exc)
    found = re.search(r"line (\d+)", exc.diag.context or "")
    where = f" on line {int(found.group(1)) + 1}" if found else ""
    return (
        f"The file could not be read as CSV{where}: {message}. Expected UTF-8, comma-separated, "
        f"every row with as many fields as the header."
    )


def _short(value) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _occurred_at_sql(o: str) -> str:
    """The SQL for the order's time from the text `o` (already matched by _DATE_RE, as
    `date_ok`): ranges checked, then cast. Positions are fixed by the regex: YYYY-MM-DD,
    then [T ]HH:MM[:SS[.f]] and the offset at `offset_at` of the time part. A boolean regex
    and substr() are used because regexp_match() with captures is ~7x slower a row."""
    y, m, d = f"substr({o}, 1, 4)::int", f"substr({o}, 6, 2)::int", f"substr({o}, 9, 2)::int"
    offset = f"substr({o}, 11 + offset_at)"
    return f"""CASE
        WHEN NOT date_ok THEN NULL
        WHEN {y} < 1900 OR {m} NOT BETWEEN 1 AND 12 THEN NULL
        WHEN {d} < 1 OR {d} > extract(day FROM make_date({y}, {m}, 1)
                                      + interval '1 month' - interval '1 day') THEN NULL
        WHEN length({o}) = 10 THEN ({o} || ' 12:00')::timestamp AT TIME ZONE tz
        WHEN substr({o}, 12, 2)::int > 23 OR substr({o}, 15, 2)::int > 59
             OR (substr({o}, 17, 1) = ':' AND substr({o}, 18, 2)::int > 59) THEN NULL
        WHEN right({o}, 1) = 'Z' THEN {o}::timestamptz
        WHEN offset_at = 0 THEN {o}::timestamp AT TIME ZONE tz
        WHEN substr({offset}, 2, 2)::int > 14
             OR coalesce(nullif(substr(replace({offset}, ':', ''), 4, 2), ''), '0')::int > 59
             THEN NULL
        ELSE {o}::timestamptz
    END"""


def _reason(
    code,
    order_id,
    email,
    external_id,
    store,
    occurred_text,
    local_day,
    amount,
    currency,
    dup_of,
    phone_length,
) -> str:
    match code:
        case "missing_order_id":
            return "missing order id"
        case "order_id_too_long":
            return f"order id '{_short(order_id)}' is longer than 64 characters"
        case "no_customer":
            return "no customer identifier (e-mail, phone or external id)"
        case "bad_email":
            return f"invalid e-mail '{_short(email)}'"
        case "external_id_too_long":
            return f"external id '{_short(external_id)}' is longer than 64 characters"
        case "phone_too_long":
            return f"phone is {phone_length} characters long (at most 32)"
        case "unknown_store":
            return f"unknown store code '{_short(store)}'"
        case "bad_date":
            return (
                f"bad date '{_short(occurred_text)}' (expected YYYY-MM-DD or "
                "YYYY-MM-DDTHH:MM[:SS][+HH:MM])"
                if occurred_text
                else "missing date"
            )
        case "future_date":
            return f"dated in the future ('{_short(occurred_text)}')"
        case "negative_amount":
            return f"negative amount '{_short(amount)}'"
        case "zero_amount":
            return "amount is zero"
        case "bad_amount":
            return (
                f"bad amount '{_short(amount)}' (a positive decimal with a dot and at most "
                "2 decimals, e.g. 129.90)"
                if amount
                else "missing amount"
            )
        case "unknown_currency":
            return f"unknown currency '{_short(currency)}'" if currency else "missing currency"
        case "no_rate":
            return f"no {currency} exchange rate valid on {local_day}"
        case "amount_too_large":
            return f"amount '{_short(amount)}' {currency} is too large"
        case "duplicate":
            return f"order '{_short(order_id)}' already appears on line {dup_of}"
        case "email_conflict":
            return f"e-mail '{_short(email)}' appears with different external ids"
        case "external_id_conflict":
            return f"external id '{_short(external_id)}' appears with different e-mails"
        case "no_member":
            return "no member matches and there is no e-mail to create one"
    return code


def _insert_columns(model, exprs: dict[str, str], *, now: datetime) -> tuple[str, str, dict]:
    """Column list and SELECT list for an INSERT ... SELECT into `model`'s table: the given
    SQL expressions, and every other column its Python default (auto_now fields: `now`),
    so a column added to the model later does not break the import."""
    qn = connection.ops.quote_name
    cols, select, params = [], [], {}
    for f in model._meta.concrete_fields:
        if f.primary_key and f.column not in exprs:
            continue
        cols.append(qn(f.column))
        if f.column in exprs:
            select.append(exprs[f.column])
        elif isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
            select.append("%(now)s")
            params["now"] = now
        else:
            name = f"default_{f.column}"
            select.append(f"%({name})s")
            params[name] = f.get_db_prep_save(f.get_default(), connection)
    unknown = set(exprs) - {f.column for f in model._meta.concrete_fields}
    if unknown:  # pragma: no cover - a programming error
        raise ValueError(f"Unknown columns for {model.__name__}: {sorted(unknown)}")
    return ", ".join(cols), ", ".join(select), params


def _unique(generate, count: int, taken: set[str]) -> list[str]:
    """`count` values from `generate`, distinct from each other and from earlier draws."""
    values: list[str] = []
    while len(values) < count:
        for value in generate(count - len(values)):
            if value not in taken:
                taken.add(value)
                values.append(value)
    return values
