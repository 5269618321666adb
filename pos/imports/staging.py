"""Step 1: COPY the file into a staging table of text columns."""


# names (the CSV header is mapped to c0..cN) and constants; every value is a parameter.

from __future__ import annotations

import csv
import re

import psycopg

from loyalty.kernel.errors import DomainError

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


def _copy_error(exc: psycopg.Error) -> str:
    """PostgreSQL counts COPY lines from the first data line; the file has a header."""
    message = exc.diag.message_primary or str(exc)
    found = re.search(r"line (\d+)", exc.diag.context or "")
    where = f" on line {int(found.group(1)) + 1}" if found else ""
    return (
        f"The file could not be read as CSV{where}: {message}. Expected UTF-8, comma-separated, "
        f"every row with as many fields as the header."
    )


# 1. COPY the file into a staging table of text columns. ----------------------------


def stage(imp) -> None:
    header = _header(imp)
    cols = ", ".join(f"c{i} text" for i in range(len(header)))
    imp.sql(
        "CREATE TEMPORARY TABLE imp_stage "
        "(line bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), " + cols + ") "
        "ON COMMIT DROP"
    )
    imp.columns = {name: f"s.c{i}" for i, name in enumerate(header) if name in COLUMNS}
    copy_sql = "COPY imp_stage ({}) FROM STDIN (FORMAT csv)".format(
        ", ".join(f"c{i}" for i in range(len(header)))
    )
    try:
        with imp.cur.cursor.copy(copy_sql) as copy:
            while chunk := imp.stream.read(1 << 20):
                copy.write(chunk)
    except (psycopg.errors.DataError, psycopg.errors.InvalidTextRepresentation) as exc:
        raise DomainError(_copy_error(exc), code="bad_file") from None
    imp.report.rows_read = imp.one("SELECT count(*) FROM imp_stage")[0]
    imp._timed("copy")


def _header(imp) -> list[str]:
    first = imp.stream.readline()
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
