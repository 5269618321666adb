"""REST API v1 for tills, the web shop and the ERP: thin edges.

Each view parses its input with an input serializer, calls a service or a selector and
renders the result with an output serializer. Business rules live in the services; their
DomainErrors become JSON errors in loyalty.kernel.api_errors. Only API keys authenticate here
(see settings.REST_FRAMEWORK); member and staff sessions do not."""

import hashlib
import io
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from campaigns.selectors import (
    balance_after,
    balance_after_club_join,
    balance_after_redemption,
    balance_after_voucher_cancel,
    club_by_id,
    club_memberships_active,
    club_offers_for,
    reward_by_id,
    reward_offers_for,
    vouchers_for_member,
)
from campaigns.services import (
    action_record,
    cart_abandoned,
    club_join,
    member_enroll,
    member_profile_rewards,
    reward_redeem,
    voucher_by_code,
    voucher_cancel,
    voucher_use,
)
from loyalty.kernel.api_errors import SafeJSONParser
from loyalty.kernel.errors import Conflict, DomainError, Forbidden, NotFound
from members.models import Member
from members.selectors import (
    ledger_for_member,
    member_by_code,
    member_by_external_id,
    member_by_number,
)
from members.services import member_update
from pos.api_auth import (
    INTEGRATION,
    READ_ONLY,
    TILL,
    ApiKeyAuthentication,
    HasApiKey,
    LookupRateThrottle,
    scopes,
)
from pos.models import ApiKey, Channel, Store
from pos.selectors import member_card, member_card_by_code, store_by_code
from pos.serializers import (
    CART_ABANDONED,
    ClubJoinResultSerializer,
    ClubJoinSerializer,
    ErrorSerializer,
    EventResultSerializer,
    EventSerializer,
    LedgerEntrySerializer,
    MemberClubsSerializer,
    MemberCreateSerializer,
    MemberDetailSerializer,
    MemberLookupQuerySerializer,
    MemberSummarySerializer,
    MemberUpdateSerializer,
    PurchaseResultSerializer,
    PurchaseSerializer,
    RedemptionResultSerializer,
    RedemptionSerializer,
    ReturnResultSerializer,
    ReturnSerializer,
    RewardSerializer,
    TierSerializer,
    VoucherCancelResultSerializer,
    VoucherDetailSerializer,
    VoucherListQuerySerializer,
    VoucherRedeemSerializer,
    VoucherSerializer,
)
from pos.services import purchase_record, return_record
from tiers.selectors import public_tiers

_ERROR_DESCRIPTIONS = {
    400: "Invalid input or a business rule said no (see error.code and error.fields).",
    401: "No API key, or an invalid or revoked one.",
    403: "This API key's scope does not reach this operation (scope_not_allowed; see the "
    "operation's scopes), or a store-bound key and another store or online "
    "(store_not_allowed).",
    404: "Not found.",
    409: "Conflicts with what was recorded before (e.g. same receipt, different data).",
    429: "Too many requests for this API key; retry later.",
}

logger = logging.getLogger(__name__)


def errors(*codes: int, notes: dict[int, str] | None = None) -> dict:
    """Error responses for @extend_schema; every operation may also answer 401, 403 (a
    key whose scope does not reach it) and 429. `notes` replaces the generic description
    of a status for one operation."""
    notes = notes or {}
    return {
        code: OpenApiResponse(
            ErrorSerializer, description=notes.get(code, _ERROR_DESCRIPTIONS[code])
        )
        for code in sorted({*codes, *notes, 401, 403, 429})
    }


def parse(serializer_class, data, **kwargs) -> dict:
    if not kwargs and hasattr(serializer_class, "plain_validated"):
        validated = serializer_class.plain_validated(data)
        if validated is not None:
            return validated
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class LeanRequest:
    """The request a lean POST's handler gets (see ApiView.lean_dispatch): the parsed
    body as `data`, the API client and key as `user` and `auth`; everything else is the
    Django request's."""

    def __init__(self, request, user, auth):
        self._request, self.user, self.auth = request, user, auth
        self.data = None

    def __getattr__(self, name):
        return getattr(self._request, name)


# URL parameters that find a member or a voucher: a view whose URL has one of them gets
# the lookup rate limit (ApiView.get_throttles).
LOOKUP_KWARGS = frozenset(("number", "code", "external_id"))

# The requests a lean POST answers: what tills and the web shop send. Anything else (a
# charset or another type, an empty body, an Accept to negotiate, a query) goes through
# DRF's dispatch, which words every refusal.
_LEAN_ACCEPT = frozenset(("", "*/*", "application/json"))


class ApiView(APIView):
    # Base of the API views: JSON in and out, and a missing key gets a message saying how
    # to send one.
    parser_classes = [SafeJSONParser]
    renderer_classes = [JSONRenderer]
    # True on a view whose POST is called many times a second (the sales): see
    # lean_dispatch.
    lean_post = False
    # Per HTTP method, the API key scopes that may call it (see api_auth.scopes), checked
    # by api_auth.HasApiKey. None declared: every key is refused.
    required_scopes: dict[str, frozenset[str]] = {}
    # True on a view that finds a member or a voucher by what the client sends in the
    # query (a code): it shares the lookup budget like every view whose URL names a
    # member number, an external id or a code (see get_throttles).
    lookup = False

    def dispatch(self, request, *args, **kwargs):
        response = None
        if self.lean_post and request.method == "POST":
            response = self.lean_dispatch(request, args, kwargs)
        if response is None:
            response = super().dispatch(request, *args, **kwargs)
        # Answers carry personal data (profiles, balances, voucher codes): no cache, no
        # proxy and no browser keeps them. Here, once, for every API view and both paths.
        response["Cache-Control"] = "no-store"
        return response

    def get_exception_handler(self):
        """The API's one exception handler (loyalty.kernel.api_errors), after one check: a view
        without the lookup throttle that found no member for a code the client sent in
        the body (a sale, a return, an event) spends one request of the lookup budget on
        the miss, and answers 429 once it is spent. So walking member numbers through the
        sales endpoint is as slow as through the lookups, and a sale that finds its
        member (the hot path) pays nothing."""
        handler = super().get_exception_handler()

        def handle(exc, context):
            if (
                isinstance(exc, NotFound)
                and exc.code == "unknown_member"
                and isinstance(getattr(self.request, "auth", None), ApiKey)
                and not any(isinstance(t, LookupRateThrottle) for t in self.get_throttles())
            ):
                throttle = LookupRateThrottle()
                if not throttle.allow_request(self.request, self):
                    exc = exceptions.Throttled(throttle.wait())
            return handler(exc, context)

        return handle

    def get_throttles(self):
        """The API key's own rate, and the lower lookup rate for every view that finds
        a member or a voucher by a number, code or external id a client could walk
        through: decided from the URL's parameters (LOOKUP_KWARGS), so a new view of
        that kind cannot forget it."""
        throttles = super().get_throttles()
        lookup = self.lookup or LOOKUP_KWARGS & self.kwargs.keys()
        if lookup and not any(isinstance(t, LookupRateThrottle) for t in throttles):
            throttles.append(LookupRateThrottle())
        return throttles

    def lean_dispatch(self, request, args, kwargs):
        """DRF's dispatch for a POST of the common shape, without its request wrapper:
        the same key check, permission, throttles, JSON parser, handler, exception
        handler and renderer, called directly. DRF's wrapper, its content negotiation and
        its lazy parsing were about a tenth of a sale's CPU in a web worker (profiled).
        None when the request is of another shape, or its key is missing or invalid:
        then DRF's dispatch answers it, with the same words as for any view."""
        meta = request.META
        if (
            meta.get("CONTENT_TYPE") != "application/json"
            or meta.get("CONTENT_LENGTH") in (None, "", "0")
            or meta.get("HTTP_ACCEPT", "") not in _LEAN_ACCEPT
            or meta.get("QUERY_STRING")
            or kwargs
            or not _lean_policy(type(self))
        ):
            return None
        try:
            found = ApiKeyAuthentication().authenticate(request)
        except exceptions.AuthenticationFailed:
            return None
        if found is None:
            return None
        lean = LeanRequest(request, *found)
        if not HasApiKey.allows(lean, self):
            return None  # DRF's dispatch words the refusal
        self.args, self.kwargs, self.request = args, kwargs, lean
        self.format_kwarg = None
        try:
            waits = [t.wait() for t in self.get_throttles() if not t.allow_request(lean, self)]
            if waits:
                self.throttled(lean, max((w for w in waits if w is not None), default=None))
            lean.data = self.parser_classes[0]().parse(
                io.BytesIO(request.body),
                "application/json",
                {
                    "view": self,
                    "args": args,
                    "kwargs": kwargs,
                    "encoding": settings.DEFAULT_CHARSET,
                },
            )
            response = self.post(lean)
        except Exception as exc:
            response = self.get_exception_handler()(exc, self.get_exception_handler_context())
            if response is None:
                raise
            response.exception = True
        response.accepted_renderer = renderer = self.renderer_classes[0]()
        response.accepted_media_type = renderer.media_type
        response.renderer_context = self.get_renderer_context()
        response["Allow"] = ", ".join(self.allowed_methods)
        return response

    def perform_content_negotiation(self, request, force=False):
        # DRF parses the Accept header into media types on every request. A till sends
        # none, "*/*" or "application/json": for these DRF picks the first renderer (the
        # first JSON one), which is what this returns without the parsing. Anything
        # else, and a ?format=, is DRF's to decide, with its 406 or 404.
        accept = request.META.get("HTTP_ACCEPT", "")
        renderer = self.renderer_classes[0]
        if (
            (accept in ("", "*/*") or accept == renderer.media_type == "application/json")
            and not self.format_kwarg
            and api_settings.URL_FORMAT_OVERRIDE not in request.GET
        ):
            return renderer(), renderer.media_type
        return super().perform_content_negotiation(request, force)

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated(
                "An API key is required: send 'Authorization: Api-Key <key>'."
            )
        super().permission_denied(request, message=message, code=code)


_lean_policies: dict[type, bool] = {}


def _lean_policy(view: type) -> bool:
    """Whether `view` checks keys, permissions and content as lean_dispatch does: the
    API's defaults, one JSON parser and renderer, no versioning."""
    if view not in _lean_policies:
        _lean_policies[view] = (
            list(view.authentication_classes) == [ApiKeyAuthentication]
            and list(view.permission_classes) == [HasApiKey]
            and list(view.parser_classes) == [SafeJSONParser]
            and list(view.renderer_classes) == [JSONRenderer]
            and view.versioning_class is None
            and view.content_negotiation_class is api_settings.DEFAULT_CONTENT_NEGOTIATION_CLASS
        )
    return _lean_policies[view]


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
    try:
        claimed = cache.add(cache_key, {"fingerprint": fingerprint}, IDEMPOTENCY_CLAIM_TTL)
    except Exception:  # cache down: the services' own unique keys still prevent doubles
        logger.warning("idempotency cache unavailable; request handled without replay")
        return handler()
    if not claimed:
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
        _cache_quietly(cache.delete, cache_key)
        raise
    _cache_quietly(
        cache.set, cache_key, {"fingerprint": fingerprint, "body": response.data}, IDEMPOTENCY_TTL
    )
    return response


def _cache_quietly(operation, *args):
    try:
        operation(*args)
    except Exception:  # the response is right; only the replay record is lost
        logger.warning("idempotency cache unavailable while storing a result")


def request_key(request) -> str | None:
    """The Idempotency-Key as a key the service stores with what it creates (unique
    there), scoped to this API key: a replay finds the first result even when the cache
    has lost it."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    return f"api:{request.auth.pk}:{hashlib.sha256(key.encode()).hexdigest()}"


class MemberLookupView(ApiView):
    lookup = True  # the code is in the query
    required_scopes = scopes(get=(TILL, INTEGRATION, READ_ONLY))

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
        return Response(MemberSummarySerializer(member_card_by_code(query["code"])).data)


class MemberCreateView(ApiView):
    required_scopes = scopes(post=(INTEGRATION,))

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
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY), patch=(INTEGRATION,))

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
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY))

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
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY))
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
            **errors(400, 403, 404, 409),
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
    required_scopes = scopes(get=(TILL, INTEGRATION, READ_ONLY))

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


# --- Events (actions the program rewards) ------------------------------------------------


class EventCreateView(ApiView):
    required_scopes = scopes(post=(INTEGRATION,))

    @extend_schema(
        operation_id="events_create",
        tags=["program"],
        summary="Report something a member did that the program may reward",
        request=EventSerializer,
        responses={
            201: EventResultSerializer,
            200: OpenApiResponse(
                EventResultSerializer,
                description="Nothing new was booked: a replay of the same member, type and "
                "reference (the first result again, carats_awarded as then), or no carats "
                "given (carats_awarded 0: no active rule for this type, a limit reached, or "
                "already rewarded for this reference; reason says which).",
            ),
            **errors(400, 404),
        },
    )
    def post(self, request):
        """A review, a social follow, user content, a visit to a brand event, ... Carats
        come from the active rule for the type, within its limits, at most once per member,
        type and reference. Types the program awards by itself (sign-up, profile,
        referrals) cannot be reported."""
        data = parse(EventSerializer, request.data)
        member = member_by_code(data["member"])
        if data["type"] == CART_ABANDONED:
            return self._basket(member, data)
        result = action_record(member=member, action=data["type"], reference=data["reference"])
        body = {
            "carats_awarded": result.carats,
            "balance": balance_after(result.entry_key, member.pk),
            "reason": result.reason,
            "type": data["type"],
            "reference": data["reference"],
        }
        return Response(
            EventResultSerializer(body).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    def _basket(self, member, data):
        """No carats: the basket e-mail is scheduled (sent after the configured delay
        unless the member buys meanwhile). Once per basket reference."""
        scheduled = cart_abandoned(
            member=member, reference=data["reference"], lines=data.get("lines") or []
        )
        body = {
            "carats_awarded": 0,
            "balance": member.balance,
            "reason": "Basket e-mail scheduled." if scheduled else "Nothing new to schedule.",
            "type": data["type"],
            "reference": data["reference"],
        }
        return Response(
            EventResultSerializer(body).data,
            status=status.HTTP_201_CREATED if scheduled else status.HTTP_200_OK,
        )


# --- Rewards and vouchers ---------------------------------------------------------------


class MemberRewardListView(ApiView):
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY))

    @extend_schema(
        operation_id="members_rewards",
        tags=["rewards"],
        summary="The rewards a member may redeem, cheapest first",
        parameters=[NUMBER],
        responses={200: RewardSerializer(many=True), **errors(404)},
    )
    def get(self, request, number):
        """The catalog as this member sees it: active rewards of the member's tier (a
        hidden tier's rewards only for its members), with the stock left and whether the
        balance covers the cost."""
        member = member_by_number(number)
        return Response(RewardSerializer(reward_offers_for(member), many=True).data)


class MemberRedemptionCreateView(ApiView):
    required_scopes = scopes(post=(INTEGRATION,))

    @extend_schema(
        operation_id="members_redemptions_create",
        tags=["rewards"],
        summary="Spend carats on a reward and issue its voucher",
        parameters=[NUMBER, IDEMPOTENCY_KEY],
        request=RedemptionSerializer,
        responses={
            201: RedemptionResultSerializer,
            200: OpenApiResponse(
                RedemptionResultSerializer,
                description="A replay of the same Idempotency-Key: the first voucher and the "
                "balance right after it; nothing is spent again.",
            ),
            **errors(
                400,
                404,
                409,
                notes={
                    400: "Invalid input, or the member already has this reward as often as "
                    "allowed (limit_reached).",
                    404: "No such member, or the reward is not available to this member "
                    "(unknown_reward).",
                    409: "Not enough carats (insufficient_carats), out of stock "
                    "(out_of_stock), or the Idempotency-Key was used for other data.",
                },
            ),
        },
    )
    def post(self, request, number):
        """Debits the reward's cost, takes one from its stock and issues a voucher; never
        oversold and never below a zero balance. Send an Idempotency-Key so that a retry
        cannot spend twice."""
        member = member_by_number(number)
        data = parse(RedemptionSerializer, request.data)
        reward = reward_by_id(data["reward"])

        def redeem():
            redemption = reward_redeem(
                member=member, reward=reward, request_key=request_key(request)
            )
            voucher = redemption.voucher
            body = {"voucher": voucher, "balance": balance_after_redemption(voucher)}
            return Response(
                RedemptionResultSerializer(body).data,
                status=status.HTTP_201_CREATED if redemption.created else status.HTTP_200_OK,
            )

        payload = {"member": member.member_number, **data}
        return idempotent(request, "members.redemptions.create", payload, redeem)


class MemberVoucherListView(ApiView):
    required_scopes = scopes(get=(TILL, INTEGRATION, READ_ONLY))

    @extend_schema(
        operation_id="members_vouchers",
        tags=["rewards"],
        summary="A member's vouchers, newest first",
        parameters=[NUMBER, VoucherListQuerySerializer],
        responses={200: VoucherSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, number):
        """Bought and gift vouchers; `?status=issued` for the ones not used or cancelled
        (check valid_until: an issued voucher past it has expired)."""
        member = member_by_number(number)
        query = parse(VoucherListQuerySerializer, request.query_params)
        vouchers = vouchers_for_member(member, status=query.get("status"))
        return Response(VoucherSerializer(vouchers, many=True).data)


VOUCHER_CODE = OpenApiParameter(
    "code",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The voucher code, e.g. VABCDE-FGHJK.",
)


def voucher_place(request, store_code: str | None) -> str:
    """Where a voucher is accepted, and whether this key may say so: a store-bound key
    (a till) only for its own store, which is also the default; other keys name a store
    or are recorded as themselves."""
    bound = request.auth.store
    if store_code:
        if bound is not None and store_code != bound.code:
            raise Forbidden(
                f"This API key may only redeem vouchers for store {bound.code}.",
                code="store_not_allowed",
            )
        return store_by_code(store_code).code
    if bound is not None:
        return bound.code
    return str(request.user)


class VoucherDetailView(ApiView):
    required_scopes = scopes(get=(TILL, INTEGRATION, READ_ONLY))

    @extend_schema(
        operation_id="vouchers_retrieve",
        tags=["rewards"],
        summary="A voucher, for a till to check before accepting it",
        parameters=[VOUCHER_CODE],
        responses={200: VoucherDetailSerializer, **errors(404)},
    )
    def get(self, request, code):
        """Whose voucher it is, what it is worth, its status and until when it is valid
        (`usable` sums it up)."""
        return Response(VoucherDetailSerializer(voucher_by_code(code)).data)


class VoucherRedeemView(ApiView):
    required_scopes = scopes(post=(TILL, INTEGRATION))

    @extend_schema(
        operation_id="vouchers_redeem",
        tags=["rewards"],
        summary="Accept a voucher (once, while valid)",
        parameters=[VOUCHER_CODE, IDEMPOTENCY_KEY],
        request=VoucherRedeemSerializer,
        responses={
            200: VoucherDetailSerializer,
            **errors(
                400,
                403,
                404,
                409,
                notes={
                    403: "A key whose scope does not reach this (scope_not_allowed), or a "
                    "store's key and another store (store_not_allowed).",
                    404: "No voucher has this code (unknown_voucher).",
                    409: "Already used (voucher_used), cancelled (voucher_cancelled) or "
                    "expired (voucher_expired); or the Idempotency-Key was used for other "
                    "data.",
                },
            ),
        },
    )
    def post(self, request, code):
        """Marks the voucher used, once: a second redemption is a 409. A store's key
        redeems for its own store; send an Idempotency-Key to make a retry after a lost
        answer return the first result instead of a 409."""
        data = parse(VoucherRedeemSerializer, request.data)
        where = voucher_place(request, data.get("store"))

        def redeem():
            return Response(VoucherDetailSerializer(voucher_use(code=code, where=where)).data)

        payload = {"code": code.strip().upper(), **data}
        return idempotent(request, "vouchers.redeem", payload, redeem)


class VoucherCancelView(ApiView):
    required_scopes = scopes(post=(INTEGRATION,))

    @extend_schema(
        operation_id="vouchers_cancel",
        tags=["rewards"],
        summary="Cancel an unused voucher: its carats come back",
        parameters=[VOUCHER_CODE, IDEMPOTENCY_KEY],
        request=None,
        responses={
            200: VoucherCancelResultSerializer,
            **errors(
                403,
                404,
                409,
                notes={
                    403: "Only the web shop's or the ERP's keys (integration) cancel "
                    "vouchers, not a till's (scope_not_allowed); nor an integration key "
                    "bound to a store (store_not_allowed).",
                    404: "No voucher has this code (unknown_voucher).",
                    409: "The voucher was used or cancelled already "
                    "(voucher_not_cancellable); or the Idempotency-Key was used for other "
                    "data.",
                },
            ),
        },
    )
    def post(self, request, code):
        """Refunds the carats paid for the voucher and puts its unit back in stock. Only
        an unused voucher can be cancelled."""
        if request.auth.store is not None:
            raise Forbidden(
                "A store's API key cannot cancel vouchers; the web shop or the ERP can.",
                code="store_not_allowed",
            )

        def cancel():
            voucher = voucher_cancel(voucher=voucher_by_code(code))
            body = {"voucher": voucher, "balance": balance_after_voucher_cancel(voucher)}
            return Response(VoucherCancelResultSerializer(body).data)

        return idempotent(request, "vouchers.cancel", {"code": code.strip().upper()}, cancel)


# --- Clubs ------------------------------------------------------------------------------


class MemberClubsView(ApiView):
    required_scopes = scopes(get=(INTEGRATION, READ_ONLY), post=(INTEGRATION,))

    @extend_schema(
        operation_id="members_clubs",
        tags=["clubs"],
        summary="The clubs open to a member and the member's current memberships",
        parameters=[NUMBER],
        responses={200: MemberClubsSerializer, **errors(404)},
    )
    def get(self, request, number):
        """Clubs the member may join or renew (of the member's tier), cheapest first, and
        the paid periods not over yet."""
        member = member_by_number(number)
        body = {"clubs": club_offers_for(member), "memberships": club_memberships_active(member)}
        return Response(MemberClubsSerializer(body).data)

    @extend_schema(
        operation_id="members_clubs_join",
        tags=["clubs"],
        summary="Join or renew a club with carats",
        parameters=[NUMBER, IDEMPOTENCY_KEY],
        request=ClubJoinSerializer,
        responses={
            201: ClubJoinResultSerializer,
            200: OpenApiResponse(
                ClubJoinResultSerializer, description="A replay of the same Idempotency-Key."
            ),
            **errors(
                400,
                404,
                409,
                notes={
                    404: "No such member, or the club is not open to this member (unknown_club).",
                    409: "Not enough carats (insufficient_carats), or the Idempotency-Key "
                    "was used for other data.",
                },
            ),
        },
    )
    def post(self, request, number):
        """Debits the club's cost. A renewal starts when the current period ends, so no
        paid day is lost. Send an Idempotency-Key so that a retry cannot pay twice."""
        member = member_by_number(number)
        data = parse(ClubJoinSerializer, request.data)
        club = club_by_id(data["club"])

        def join():
            membership = club_join(member=member, club=club)
            body = {
                "club": membership.club,
                "started_at": membership.started_at,
                "ends_at": membership.ends_at,
                "carats_paid": membership.carats_paid,
                "balance": balance_after_club_join(membership),
            }
            return Response(ClubJoinResultSerializer(body).data, status=status.HTTP_201_CREATED)

        payload = {"member": member.member_number, **data}
        return idempotent(request, "members.clubs.join", payload, join)


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
