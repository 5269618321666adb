"""Step 2: every row parsed and checked in SQL, each with its first failing reason."""

# ruff: noqa: S608 - SQL text is built only from table names (model metadata), column
# names (the CSV header is mapped to c0..cN) and constants; every value is a parameter.

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError

from campaigns.services import program
from loyalty.kernel.validators import validate_email_address
from tiers.selectors import entry_tier

MAX_CARATS = 2**31 - 1

# Date, or date and time with an optional offset (only with a time).
_DATE_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?)?$"
_AMOUNT_RE = r"^\d{1,10}(\.\d{1,2})?$"
_EMAIL_RE = r"^[^@\s]+@[^@\s]+$"  # the rough check; then Django's EmailValidator
# The reasons that come before 'bad_email' in the order of reasons (see validate).
_BEFORE_BAD_EMAIL = "('missing_order_id', 'order_id_too_long', 'no_customer')"


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


# 2. Normalise and validate in SQL: one row per line with its first failing reason. --


def validate(imp) -> None:
    """Every row normalised and checked in SQL (imp_rows: one row a line, with its first
    failing reason), the e-mails by the forms' validator, then the orders the file has
    twice and those an earlier run imported."""
    _rows_checked(imp)
    _check_emails(imp)
    imp.sql("ANALYZE imp_rows")
    _reject_duplicates(imp)
    _mark_already_imported(imp)
    imp._timed("validate")


# The statement of _rows_checked after its first columns (the CSV's, which depend on the
# file's header). Casts only run inside CASE branches whose conditions proved the text
# well-formed (a plain cast of "2024-02-30" would abort the whole import).
_ROWS_CHECKED = f"""            FROM imp_stage s
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
        """


def _rows_checked(imp) -> None:
    def col(name: str) -> str:
        if name not in imp.columns:
            return "NULL::text"
        return f"nullif(btrim({imp.columns[name]}, E' \\t'), '')"

    prog = program()
    earn = prog.carats_per_eur * entry_tier().earn_multiplier
    raw = f"""
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
"""
    imp.sql(
        raw + _ROWS_CHECKED,
        {
            "default_tz": settings.TIME_ZONE,
            "date_re": _DATE_RE,
            "amount_re": _AMOUNT_RE,
            "email_re": _EMAIL_RE,
            "earn": earn,
            "max_carats": MAX_CARATS,
            "max_amount": Decimal("9999999999.99"),
            "latest": imp.now + timedelta(minutes=settings.CARAT_FUTURE_TOLERANCE_MINUTES),
        },
    )


def _reject_duplicates(imp) -> None:
    # The same order twice in the file: the first valid line wins, the others are
    # rejected (pointing at it).
    imp.sql(
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


def _mark_already_imported(imp) -> None:
    # Idempotency: orders already imported (by an earlier run) are skipped.
    imp.sql(
        """
        UPDATE imp_rows r SET already = true
        WHERE r.reason IS NULL
          AND EXISTS (SELECT 1 FROM {purchase} p WHERE p.receipt_key = r.receipt_key)
        """
    )


def _check_emails(imp) -> None:
    """The forms' validator (loyalty.kernel.validators) on every distinct e-mail that
    passed the SQL's rough check: the import accepts what signing up accepts, no
    more. Streamed from a server-side cursor; only the bad ones come back to SQL."""
    bad = []
    with imp.cur.cursor.connection.cursor(name="imp_emails") as emails:
        emails.itersize = 20_000
        emails.execute(
            f"SELECT DISTINCT email FROM imp_rows WHERE email IS NOT NULL "
            f"AND (reason IS NULL OR reason NOT IN {_BEFORE_BAD_EMAIL})"
        )
        for (email,) in emails:
            try:
                validate_email_address(email)
            except ValidationError:
                bad.append(email)
    if bad:
        imp.sql(
            """
            UPDATE imp_rows SET reason = 'bad_email'
            WHERE email = ANY(%(bad)s)
              AND (reason IS NULL OR reason NOT IN """
            + _BEFORE_BAD_EMAIL
            + ")",
            {"bad": bad},
        )
