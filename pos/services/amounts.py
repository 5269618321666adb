"""What every channel's sale shares: amounts as Decimal (ASCII digits, at most 2
decimals), conversion to EUR, sale times within bounds, receipt keys, fingerprints."""

import hashlib
import json
import re
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.utils.translation import gettext_noop

from loyalty.kernel.errors import DomainError
from pos.models import Store

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")
MAX_QUANTITY = 10_000  # of one line
MAX_CARATS = 2**31 - 1  # balances and carats are 32-bit integers in the database


def _check_sale_time(occurred_at: datetime, *, now: datetime, max_age: timedelta | None) -> None:
    """A sale's time is bounded both ways: at most a few minutes ahead (clocks of tills
    drift; CARAT_FUTURE_TOLERANCE_MINUTES) and, when the caller says so, at most `max_age`
    back: a back-dated sale would earn the bonus of a campaign that has ended."""
    tolerance = timedelta(minutes=settings.CARAT_FUTURE_TOLERANCE_MINUTES)
    if occurred_at > now + tolerance:
        raise DomainError(
            f"occurred_at is in the future: at most {settings.CARAT_FUTURE_TOLERANCE_MINUTES} "
            "minutes ahead of the server's clock are accepted (check the till's clock).",
            field="occurred_at",
        )
    if max_age is not None and occurred_at < now - max_age:
        raise DomainError(
            f"occurred_at is too far in the past: this API key records sales of the last "
            f"{max_age.days} days only (older history goes through the import).",
            field="occurred_at",
        )


# What an amount looks like wherever it comes in (API, scan page, returns; the history
# import checks the same in SQL): ASCII digits, a dot and at most 2 decimals. Python's
# Decimal() also reads "1e3", "1_000.00", full-width and Arabic-Indic digits; none of
# them is an amount a till or a person means to send.
AMOUNT_RE = re.compile(r"[0-9]+(\.[0-9]+)?")


def _on(field) -> dict:
    # The field's name goes into the message in the reader's language (a form's label).
    return {"field": str(field), "params": {"field": field}}


def parse_amount(value, *, field: str = "amount") -> Decimal:
    """A positive money amount with at most 2 decimals, from a string or Decimal (never a
    float: 0.1 + 0.2 must not sneak in). The one amount check: the API's MoneyField and
    the scan page's forms call it too."""
    if isinstance(value, float):
        raise DomainError(
            gettext_noop('Send amounts as decimal strings, e.g. "129.90".'), field=field
        )
    text = format(value, "f") if isinstance(value, Decimal) and value.is_finite() else None
    text = text if text is not None else str(value).strip()
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise DomainError(
            gettext_noop('%(field)s must be a decimal number, e.g. "129.90".'), **_on(field)
        ) from None
    if not amount.is_finite():
        raise DomainError(gettext_noop("%(field)s must be a finite number."), **_on(field))
    if amount <= 0:
        raise DomainError(gettext_noop("%(field)s must be greater than zero."), **_on(field))
    if not AMOUNT_RE.fullmatch(text):
        raise DomainError(
            gettext_noop(
                "%(field)s must be a decimal number written with the digits 0-9 and a dot, "
                'e.g. "129.90".'
            ),
            **_on(field),
        )
    if amount > MAX_AMOUNT:  # before quantize: a huge exponent cannot be quantized
        raise DomainError(gettext_noop("%(field)s is too large."), **_on(field))
    try:
        cents = amount.quantize(CENT)
    except InvalidOperation:
        raise DomainError(
            gettext_noop('%(field)s must be a plain amount, e.g. "129.90".'), **_on(field)
        ) from None
    if amount != cents:
        raise DomainError(gettext_noop("%(field)s has at most 2 decimals."), **_on(field))
    return cents


def to_eur(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def receipt_key(channel: str, store: Store | None, receipt_id: str) -> str:
    return f"{channel}:{store.code if store else '-'}:{receipt_id}"


def _fingerprint(**data) -> str:
    raw = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()
