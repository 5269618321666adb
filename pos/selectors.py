"""Read queries about stores, rates and sales."""

from datetime import datetime
from decimal import Decimal

from loyalty.errors import DomainError, MissingRate, UnknownCurrency

from .models import ExchangeRate, Store


def rate_to_eur(currency: str, at: datetime) -> Decimal:
    """The rate valid at `at`: the newest rate whose valid_from is not after it."""
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise UnknownCurrency("currency must be a 3-letter code, e.g. EUR.", field="currency")
    if currency == "EUR":
        return Decimal("1")
    rate = (
        ExchangeRate.objects.filter(currency=currency, valid_from__lte=at)
        .order_by("-valid_from")
        .values_list("rate_to_eur", flat=True)
        .first()
    )
    if rate is None:
        if not ExchangeRate.objects.filter(currency=currency).exists():
            raise UnknownCurrency(f"Unknown currency: {currency}.", field="currency")
        raise MissingRate(
            f"No {currency} exchange rate is valid on {at:%Y-%m-%d}.", field="currency"
        )
    return rate


def store_by_code(code: str) -> Store:
    store = Store.objects.filter(code=(code or "").strip()).first()
    if store is None:
        raise DomainError(f"Unknown store: {code}.", code="unknown_store", field="store")
    return store


def stores_for_user(user) -> list[Store]:
    return list(Store.objects.filter(staff=user, active=True).order_by("code"))
