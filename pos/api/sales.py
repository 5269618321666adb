"""Sales and returns from tills, the web shop and the ERP."""

from datetime import timedelta

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from loyalty.kernel.errors import DomainError, Forbidden
from pos.api_auth import (
    INTEGRATION,
    TILL,
    scopes,
)
from pos.models import Channel, Store
from pos.selectors import store_by_code
from pos.serializers import (
    PurchaseResultSerializer,
    PurchaseSerializer,
    ReturnResultSerializer,
    ReturnSerializer,
)
from pos.services import purchase_record, return_record

from .base import ApiView, errors, parse, rule

# --- Sales and returns ------------------------------------------------------------------


def sale_place(request, data: dict) -> tuple[str, Store | None]:
    """The channel and store of a sale or return, and whether this key may write there:
    a store-bound key (a till) writes only for its own store, never online."""
    bound = request.auth.store
    code, channel = data.get("store"), data.get("channel")
    if code:
        if channel not in (None, Channel.STORE):
            raise DomainError('Send either a store or channel "online", not both.', field="channel")
        if bound is not None and code != bound.code:
            raise Forbidden(
                f"This API key may only record sales and returns for store {bound.code}.",
                code="store_not_allowed",
            )
        if bound is not None:
            return Channel.STORE, bound  # the till's own store, read with its key
        return Channel.STORE, store_by_code(code)
    if channel != Channel.ONLINE:
        raise DomainError(
            'Send the store code, or channel "online" for a web shop sale.', field="store"
        )
    if bound is not None:
        raise Forbidden(
            f"This API key belongs to store {bound.code}; it cannot record online sales.",
            code="store_not_allowed",
        )
    return Channel.ONLINE, None


def sale_max_age(key) -> timedelta:
    """How far back this key may date a sale: a till's a few weeks, an integration's
    (web shop, ERP replaying history) longer."""
    if key.scope == TILL:
        return timedelta(days=settings.CARAT_SALE_MAX_AGE_DAYS)
    return timedelta(days=settings.CARAT_SALE_MAX_AGE_DAYS_INTEGRATION)


# What a sale or a return may be refused for beyond its schema: rules that depend on the
# program's data (its stores, currencies and rates, the member's balance, what is left on
# a sale), on the time (how far back a sale may be dated) or on two fields together.
_PLACE_ERRORS = [
    rule(400, "unknown_store", "Unknown store: gent.", "store"),
    rule(400, "invalid", "This store is closed.", "store", name="store closed"),
    rule(
        400,
        "invalid",
        'Send either a store or channel "online", not both.',
        "channel",
        name="store and online",
    ),
    rule(
        400,
        "invalid",
        'Send the store code, or channel "online" for a web shop sale.',
        "store",
        name="neither store nor online",
    ),
    rule(
        403,
        "store_not_allowed",
        "This API key may only record sales and returns for store antwerp.",
    ),
]
SALE_ERRORS = [
    *_PLACE_ERRORS,
    rule(400, "unknown_currency", "Unknown currency: XYZ.", "currency"),
    rule(400, "missing_rate", "No USD exchange rate is valid on 2026-06-01.", "currency"),
    rule(
        400,
        "invalid",
        "occurred_at is too far in the past: this API key records sales of the last 30 days "
        "only (older history goes through the import).",
        "occurred_at",
        name="sale too old",
    ),
    rule(
        400,
        "invalid",
        "occurred_at is in the future: at most 10 minutes ahead of the server's clock are "
        "accepted (check the till's clock).",
        "occurred_at",
        name="sale in the future",
    ),
    rule(
        400,
        "invalid",
        "This sale would earn more carats than an account can hold; check the amount.",
        "amount",
        name="too many carats",
    ),
    rule(404, "unknown_member", "No member has this code."),
    rule(409, "receipt_conflict", "This receipt was already recorded with different data."),
]
RETURN_ERRORS = [
    *_PLACE_ERRORS,
    rule(
        400,
        "return_too_large",
        "The return is larger than what is left on the sale (370.10 EUR).",
        "amount",
    ),
    rule(404, "unknown_receipt", "No sale with this receipt id.", "receipt_id"),
    rule(409, "return_conflict", "This return id was already recorded with different data."),
]


class PurchaseCreateView(ApiView):
    required_scopes = scopes(post=(TILL, INTEGRATION))
    lean_post = True

    @extend_schema(
        operation_id="purchases_create",
        tags=["sales"],
        summary="Record a sale and award its carats (exactly once per receipt)",
        request=PurchaseSerializer,
        responses={
            201: PurchaseResultSerializer,
            200: OpenApiResponse(
                PurchaseResultSerializer, description="A replay of an already recorded receipt."
            ),
            **errors(
                400,
                403,
                404,
                409,
                examples=SALE_ERRORS,
            ),
        },
    )
    def post(self, request):
        """Idempotent on the receipt: sending the same receipt again (same store or
        channel) with the same data returns the first result with 200 and changes nothing;
        with different data it is a 409. A store-bound key records only for its store."""
        data = parse(PurchaseSerializer, request.data)
        channel, store = sale_place(request, data)
        result = purchase_record(
            member_code=data["member"],
            channel=channel,
            store=store,
            receipt_id=data["receipt_id"],
            amount=data["amount"],
            currency=data["currency"],
            occurred_at=data.get("occurred_at"),
            max_age=sale_max_age(request.auth),
            lines=[dict(line) for line in data.get("lines", [])],
            client=str(request.user),
        )
        return Response(
            PurchaseResultSerializer(result).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class ReturnCreateView(ApiView):
    required_scopes = scopes(post=(TILL, INTEGRATION))

    @extend_schema(
        operation_id="returns_create",
        tags=["sales"],
        summary="Record a return and take back carats in proportion",
        request=ReturnSerializer,
        responses={
            201: ReturnResultSerializer,
            200: OpenApiResponse(
                ReturnResultSerializer, description="A replay of an already recorded return."
            ),
            **errors(
                400,
                403,
                404,
                409,
                examples=RETURN_ERRORS,
            ),
        },
    )
    def post(self, request):
        """Idempotent on the return id: the same return again returns the first result
        with 200; the same return id with other data is a 409. A return never exceeds what
        is left on the sale, and never takes the balance below zero."""
        data = parse(ReturnSerializer, request.data)
        channel, store = sale_place(request, data)
        result = return_record(
            channel=channel,
            store=store,
            receipt_id=data["receipt_id"],
            return_id=data["return_id"],
            amount=data["amount"],
        )
        return Response(
            ReturnResultSerializer(result).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
