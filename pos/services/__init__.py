"""Sales from every channel: the core path of the product.

purchase_record: record the Purchase (idempotent on channel+store+receipt), convert to EUR
at the rate valid when the sale happened, write the purchase facts on the member, let the
program compute the carats, credit them on the ledger, re-evaluate the tier — one database
transaction, read top to bottom.

sales.py: purchase_record and its steps; returns.py: return_record; amounts.py: the
checks every channel shares (amounts, sale times, receipt keys); keys.py: API keys.
"""

from .amounts import (
    AMOUNT_RE,
    CENT,
    MAX_AMOUNT,
    MAX_CARATS,
    MAX_QUANTITY,
    parse_amount,
    receipt_key,
    to_eur,
)
from .keys import (
    api_key_create,
)
from .returns import (
    ReturnResult,
    return_record,
)
from .sales import (
    Sale,
    SaleDecision,
    SaleResult,
    purchase_record,
)
from .simulate import (
    Simulation,
    sale_simulate,
)

__all__ = [
    "AMOUNT_RE",
    "CENT",
    "MAX_AMOUNT",
    "MAX_CARATS",
    "MAX_QUANTITY",
    "ReturnResult",
    "Sale",
    "SaleDecision",
    "SaleResult",
    "Simulation",
    "api_key_create",
    "parse_amount",
    "purchase_record",
    "receipt_key",
    "return_record",
    "sale_simulate",
    "to_eur",
]
