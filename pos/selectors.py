"""Read queries about stores, rates and sales."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.models import HeldCarats
from loyalty.kernel import hot_sql
from loyalty.kernel.config import cached
from loyalty.kernel.errors import DomainError, MissingRate, NotFound, UnknownCurrency
from members.models import Member
from members.selectors import MEMBER_COLUMNS, member_code_filter, member_from_row
from tiers.models import Tier
from tiers.qualifying import (
    QUALIFYING_KINDS,
    QUALIFYING_KINDS_PARAMS,
    qualification_window_start,
    qualifying_sql,
)
from tiers.selectors import (
    Progress,
    entry_tier,
    member_progress,
    member_tier,
    progress_for,
    tier_by_id,
)

from .models import CounterJoin, ExchangeRate, Store


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


JOINED_MINUTES = 30  # the POS page lists who joined at the store this recently
JOINED_LIMIT = 12


def counter_joins_recent(store: Store, *, now: datetime | None = None) -> list[CounterJoin]:
    """Who joined on their own phone at this store in the last JOINED_MINUTES, newest
    first: only this store's (an associate sees the members who joined at their store)."""
    since = (now or timezone.now()) - timedelta(minutes=JOINED_MINUTES)
    return list(
        CounterJoin.objects.filter(
            store=store, joined_at__gte=since, member__erased_at__isnull=True
        )
        .select_related("member", "member__user", "associate")
        .order_by("-joined_at", "-pk")[:JOINED_LIMIT]
    )


def store_by_code(code: str) -> Store:
    code = (code or "").strip()
    stores = cached("stores", lambda: {s.code: s for s in Store.objects.all()})
    store = stores.get(code) or Store.objects.filter(code=code).first()  # a brand-new store
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
    pending_carats: int | None = None  # read with the card, or None (then asked for)

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


# The till's scan: the member, their status, the 12-month qualifying carats and the
# carats not on the balance yet, in one query (it was six); tiers come from the cached
# configuration. On PostgreSQL a prepared statement (loyalty.kernel.hot_sql); elsewhere (SQLite)
# a raw queryset, for Django's converters.
_QUALIFYING = qualifying_sql(
    member="m.id", since="%s", kinds=QUALIFYING_KINDS_PARAMS, indent="         "
)
_CARD_EXTRAS = f"""
       mt.tier_id AS card_tier_id, mt.hold_until AS card_hold_until,
       {_QUALIFYING}
         AS card_qualifying,
       (SELECT COALESCE(SUM(h.carats), 0) FROM campaigns_heldcarats h
         WHERE h.member_id = m.id AND h.status IN (%s, %s)) AS card_pending
  FROM members_member m
  LEFT JOIN tiers_membertier mt ON mt.member_id = m.id
 WHERE m.{{field}} = %s AND m.erased_at IS NULL
"""  # noqa: S608 - the qualifying sum is a constant of the code
_CARD = {
    "raw": "SELECT m.*," + _CARD_EXTRAS,
    "prepared": f"SELECT {MEMBER_COLUMNS}," + _CARD_EXTRAS,
}


def member_card_by_code(code: str, *, now: datetime | None = None) -> MemberCard:
    """What the till shows after a scan (QR payload or typed member number), with the
    progress to the next public tier."""
    now = now or timezone.now()
    field, value = member_code_filter(code)
    params = [
        *QUALIFYING_KINDS,
        qualification_window_start(now),
        HeldCarats.Status.PENDING,
        HeldCarats.Status.HELD,
        value,
    ]
    if hot_sql.available():
        row = hot_sql.fetch(_CARD["prepared"].format(field=field), params)
        if row is None:
            raise NotFound("No member has this code.", code="unknown_member")
        m = member_from_row(row)
        tier_id, hold_until, qualifying, pending = row[-4:]
    else:
        found = list(Member.objects.raw(_CARD["raw"].format(field=field), params))
        if not found:
            raise NotFound("No member has this code.", code="unknown_member")
        m = found[0]
        tier_id, hold_until = m.card_tier_id, m.card_hold_until
        qualifying, pending = m.card_qualifying, m.card_pending
        if isinstance(hold_until, str):  # SQLite hands back extra columns as text
            hold_until = parse_datetime(hold_until)
            if hold_until is not None and timezone.is_naive(hold_until):
                hold_until = timezone.make_aware(hold_until, UTC)
    tier = tier_by_id(tier_id) if tier_id else entry_tier()
    progress = progress_for(tier, int(qualifying), hold_until)
    return MemberCard(member=m, tier=tier, progress=progress, pending_carats=int(pending))
