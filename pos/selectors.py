"""Read queries about stores, rates and sales."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from loyalty.errors import DomainError, MissingRate, UnknownCurrency
from members.models import Member
from tiers.models import Tier
from tiers.selectors import Progress, member_progress, member_tier

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


# --- Reads for the REST API (pos.api) -------------------------------------------------


@dataclass(frozen=True)
class MemberCard:
    """What the API tells about a member: the member, their own tier (also a hidden one:
    the till must apply its discount) and, for the till, the progress to the next public
    tier."""

    member: Member
    tier: Tier
    progress: Progress | None = None

    @property
    def consents(self) -> dict:
        m = self.member
        return {
            "email": {"granted": m.email_opt_in, "changed_at": m.email_opt_in_at},
            "sms": {"granted": m.sms_opt_in, "changed_at": m.sms_opt_in_at},
        }


def member_card(member: Member, *, with_progress: bool = False) -> MemberCard:
    if with_progress:
        progress = member_progress(member)
        return MemberCard(member=member, tier=progress.tier, progress=progress)
    return MemberCard(member=member, tier=member_tier(member))
