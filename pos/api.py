"""REST API v1 for tills, the web shop and the ERP: thin edges.

Each view parses its input with an input serializer, calls a service or a selector and
renders the result with an output serializer. Business rules live in the services; their
DomainErrors become JSON errors in loyalty.api_errors. Only API keys authenticate here
(see settings.REST_FRAMEWORK); member and staff sessions do not."""

import hashlib
import json

from django.core.cache import cache
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from campaigns.services import member_enroll, member_profile_rewards
from loyalty.errors import Conflict, DomainError, Forbidden
from members.models import Member
from members.selectors import (
    ledger_for_member,
    member_by_code,
    member_by_external_id,
    member_by_number,
)
from members.services import member_update
from tiers.selectors import public_tiers

from .models import Channel, Store
from .selectors import member_card, store_by_code
from .serializers import (
    ErrorSerializer,
    LedgerEntrySerializer,
    MemberCreateSerializer,
    MemberDetailSerializer,
    MemberLookupQuerySerializer,
    MemberSummarySerializer,
    MemberUpdateSerializer,
    PurchaseResultSerializer,
    PurchaseSerializer,
    ReturnResultSerializer,
    ReturnSerializer,
    TierSerializer,
)
from .services import purchase_record, return_record

_ERROR_DESCRIPTIONS = {
    400: "Invalid input or a business rule said no (see error.code and error.fields).",
    401: "No API key, or an invalid or revoked one.",
    403: "This API key may not do this (a store-bound key and another store or online).",
    404: "Not found.",
    409: "Conflicts with what was recorded before (e.g. same receipt, different data).",
    429: "Too many requests for this API key; retry later.",
}


def errors(*codes: int) -> dict:
    """Error responses for @extend_schema; every operation may also answer 401 and 429."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[code])
        for code in sorted({*codes, 401, 429})
    }


def parse(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ApiView(APIView):
    # Base of the API views: JSON in and out, and a missing key gets a message saying how
    # to send one.
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated(
                "An API key is required: send 'Authorization: Api-Key <key>'."
            )
        super().permission_denied(request, message=message, code=code)


# --- Members ----------------------------------------------------------------------------

NUMBER = OpenApiParameter(
    "number", OpenApiTypes.STR, OpenApiParameter.PATH, description="The 10-digit member number."
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (e.g. a UUID) per intended creation. Sending the same key "
    "again within 24 hours returns the first result with 200 and creates nothing; the same "
    "key with different data is a 409.",
)
IDEMPOTENCY_TTL = 24 * 60 * 60
IDEMPOTENCY_CLAIM_TTL = 60


def idempotent(request, scope: str, payload: dict, handler) -> Response:
    """Run `handler` once per (API key, Idempotency-Key) and replay its response.

    The first request claims the key atomically in the cache (Redis in production), runs
    the handler and stores its response for 24 hours; a replay with the same data gets that
    response back with 200, a replay with other data is a 409, and a replay while the first
    is still running is a 409 to retry. A failed request releases the key. The database's
    own unique constraints (e.g. the member's e-mail) still guarantee nothing is created
    twice if the cache is lost."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return handler()
    if len(key) > 255:
        raise DomainError("Idempotency-Key is at most 255 characters.", field="Idempotency-Key")
    digest = hashlib.sha256(key.encode()).hexdigest()
    cache_key = f"carat:idempotency:{request.auth.pk}:{scope}:{digest}"
    fingerprint = hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=str).encode()
    ).hexdigest()
    if not cache.add(cache_key, {"fingerprint": fingerprint}, IDEMPOTENCY_CLAIM_TTL):
        record = cache.get(cache_key)
        if record is None:  # the first request's claim expired just now
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                code="idempotency_in_progress",
            )
        if record["fingerprint"] != fingerprint:
            raise Conflict(
                "This Idempotency-Key was already used with different data.",
                code="idempotency_key_reused",
            )
        if "body" not in record:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                code="idempotency_in_progress",
            )
        return Response(record["body"], status=status.HTTP_200_OK)
    try:
        response = handler()
    except BaseException:
        cache.delete(cache_key)
        raise
    cache.set(cache_key, {"fingerprint": fingerprint, "body": response.data}, IDEMPOTENCY_TTL)
    return response


class MemberLookupView(ApiView):
    @extend_schema(
        operation_id="members_lookup",
        tags=["members"],
        summary="Find a member by QR payload or member number",
        parameters=[MemberLookupQuerySerializer],
        responses={200: MemberSummarySerializer, **errors(400, 404)},
    )
    def get(self, request):
        """For the till: the member behind a scanned QR code or a typed member number, with
        the tier (whose discount the till applies), the balance and the progress to the
        next public tier."""
        query = parse(MemberLookupQuerySerializer, request.query_params)
        member = member_by_code(query["code"])
        return Response(MemberSummarySerializer(member_card(member, with_progress=True)).data)


class MemberCreateView(ApiView):
    @extend_schema(
        operation_id="members_create",
        tags=["members"],
        summary="Enrol a member",
        parameters=[IDEMPOTENCY_KEY],
        request=MemberCreateSerializer,
        responses={
            201: MemberDetailSerializer,
            200: OpenApiResponse(
                MemberDetailSerializer, description="A replay of the same Idempotency-Key."
            ),
            **errors(400, 409),
        },
    )
    def post(self, request):
        """Register a member into the program (entry tier, sign-up and referral rewards,
        profile rewards). An e-mail or external id that already belongs to a member is a
        409."""
        data = parse(MemberCreateSerializer, request.data)

        def create():
            member = member_enroll(source=Member.Source.API, **data)
            member_profile_rewards(member=member)
            body = MemberDetailSerializer(member_card(member)).data
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, "members.create", data, create)


class MemberDetailView(ApiView):
    @extend_schema(
        operation_id="members_retrieve",
        tags=["members"],
        summary="A member's profile, consents, tier, balance and purchase facts",
        parameters=[NUMBER],
        responses={200: MemberDetailSerializer, **errors(404)},
    )
    def get(self, request, number):
        """The single customer view of one member."""
        member = member_by_number(number)
        return Response(MemberDetailSerializer(member_card(member)).data)

    @extend_schema(
        operation_id="members_update",
        tags=["members"],
        summary="Change a member's profile or consents",
        parameters=[NUMBER],
        request=MemberUpdateSerializer,
        responses={200: MemberDetailSerializer, **errors(400, 404, 409)},
    )
    def patch(self, request, number):
        """Send only the fields to change. Consent changes are recorded with their time
        and source."""
        member = member_by_number(number)
        changes = parse(MemberUpdateSerializer, request.data, partial=True)
        member = member_update(member=member, source=Member.Source.API, **changes)
        member_profile_rewards(member=member)
        return Response(MemberDetailSerializer(member_card(member)).data)


class MemberByExternalIdView(ApiView):
    @extend_schema(
        operation_id="members_by_external_id",
        tags=["members"],
        summary="Find a member by the client's own customer id",
        parameters=[
            OpenApiParameter(
                "external_id",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="The web shop's or ERP's id for the customer.",
            )
        ],
        responses={200: MemberDetailSerializer, **errors(404)},
    )
    def get(self, request, external_id):
        """The member the web shop or ERP knows under its own customer id."""
        member = member_by_external_id(external_id)
        return Response(MemberDetailSerializer(member_card(member)).data)


class MemberLedgerView(ApiView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="members_ledger",
        tags=["members"],
        summary="A member's carat movements, newest first",
        parameters=[NUMBER],
        responses={200: LedgerEntrySerializer(many=True), **errors(404)},
    )
    def get(self, request, number):
        """Every carat movement (purchases, returns, bonuses, redemptions, adjustments),
        newest first, with the balance after each. Paginated with limit and offset."""
        member = member_by_number(number)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(ledger_for_member(member), request, view=self)
        return paginator.get_paginated_response(LedgerEntrySerializer(page, many=True).data)


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


class PurchaseCreateView(ApiView):
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
            **errors(400, 403, 404, 409),
        },
    )
    def post(self, request):
        """Idempotent on the receipt: sending the same receipt again (same store or
        channel) with the same data returns the first result with 200 and changes nothing;
        with different data it is a 409. A store-bound key records only for its store."""
        data = parse(PurchaseSerializer, request.data)
        channel, store = sale_place(request, data)
        member = member_by_code(data["member"])
        result = purchase_record(
            member=member,
            channel=channel,
            store=store,
            receipt_id=data["receipt_id"],
            amount=data["amount"],
            currency=data["currency"],
            occurred_at=data.get("occurred_at"),
            lines=[dict(line) for line in data.get("lines", [])],
            client=str(request.user),
        )
        return Response(
            PurchaseResultSerializer(result).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class ReturnCreateView(ApiView):
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
            **errors(400, 403, 404, 409),
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


# --- Tiers ------------------------------------------------------------------------------


class TierListView(ApiView):
    @extend_schema(
        operation_id="tiers_list",
        tags=["tiers"],
        summary="The public tiers, lowest first",
        responses={200: TierSerializer(many=True), **errors()},
    )
    def get(self, request):
        """The tiers members can reach, with their thresholds, discounts and benefits.
        Invite-only hidden tiers are not listed."""
        return Response(TierSerializer(public_tiers(), many=True).data)


# --- Unknown paths --------------------------------------------------------------------------


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Unknown paths under /api/ answer in the API's error shape, not with an HTML page
    (and a missing trailing slash gets a hint instead of a redirect that drops the body)."""
    message = f"There is no API endpoint at {request.path}."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            message = f"Add the trailing slash: {request.path}/"
    return JsonResponse({"error": {"code": "not_found", "message": message}}, status=404)
