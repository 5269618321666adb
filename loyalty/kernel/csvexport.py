"""The one CSV writer of every export (segments, dashboard tables).

Spreadsheets run a cell that starts with = + - @ (or a tab or carriage return, which
some of them skip before looking) as a formula, and members choose their own names. A
*text* cell that starts with one of those gets a leading apostrophe, the spreadsheet's own
"this is text" mark, so `=HYPERLINK(...)` shows as text. Numbers (int, Decimal, float)
are written as they are: -5 in a numeric column stays the number -5. A number that
arrives as text (e.g. "-5") is text and is marked like any other text.

The response is UTF-8 with a byte order mark, which is how spreadsheet programs know the
file is UTF-8 (without it accented names come out garbled), and says charset=utf-8."""

import csv
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPE = "text/csv; charset=utf-8"


def cell(value) -> object:
    """One value as a safe CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | Decimal | float):
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class _Echo:
    def write(self, value):
        return value


def csv_lines(header: Iterable, rows: Iterable[Iterable]) -> Iterator[str]:
    """The BOM, then one CSV line per row (the header first), every cell through cell()."""
    writer = csv.writer(_Echo())
    yield BOM
    yield writer.writerow([cell(v) for v in header])
    for row in rows:
        yield writer.writerow([cell(v) for v in row])


def csv_response(filename: str, header: Iterable, rows: Iterable[Iterable], *, stream=True):
    """A CSV download: streamed (rows may be a lazy iterator over millions), or in one
    piece for a small table."""
    lines = csv_lines(header, rows)
    if stream:
        response = StreamingHttpResponse(lines, content_type=CONTENT_TYPE)
    else:
        response = HttpResponse("".join(lines), content_type=CONTENT_TYPE)
    safe = "".join(c for c in filename if c.isalnum() or c in "-_.") or "export.csv"
    response["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response
