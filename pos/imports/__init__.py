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

from .report import ImportReport, Rejection
from .run import _Import, history_import, launch_at

__all__ = ["ImportReport", "Rejection", "_Import", "history_import", "launch_at"]
