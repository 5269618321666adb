"""What every resource's views build on: ApiView (key check, throttles, the lean
dispatch of the common sale), parsing, the documented errors, idempotency, the JSON 404."""

import hashlib
import io
import json
import logging

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from loyalty.kernel.api_errors import SafeJSONParser
from loyalty.kernel.errors import Conflict, DomainError, NotFound
from pos.api_auth import (
    HEADER_HINT,
    ApiKeyAuthentication,
    HasApiKey,
    LookupRateThrottle,
)
from pos.models import ApiKey
from pos.serializers import (
    ErrorSerializer,
)

_ERROR_DESCRIPTIONS = {
    400: "Invalid input or a business rule said no (see error.code and error.fields).",
    401: "No API key, or an invalid or revoked one.",
    403: "This API key's scope does not reach this operation (scope_not_allowed; see the "
    "operation's scopes), or a store-bound key and another store or online "
    "(store_not_allowed).",
    404: "Not found.",
    409: "Conflicts with what was recorded before (e.g. same receipt, different data), or "
    "an Idempotency-Key reused with other data or still in progress.",
    413: "The request body is too large.",
    429: "Too many requests for this API key; retry after the Retry-After header's seconds.",
    503: "The database is briefly unavailable; retry after the Retry-After header's seconds.",
}
# What any operation may answer whatever it does: a bad query or value (400), no or a
# bad key (401), a scope that does not reach it (403), an unknown path or format (404),
# the rate limit (429), a database outage (503). A write may also answer 409 (the
# Idempotency-Key) and 413. ScopedAutoSchema adds these to every operation's responses,
# so a new endpoint documents them without asking.
ALWAYS = (400, 401, 403, 404, 429, 503)
ON_WRITES = (409, 413)

logger = logging.getLogger(__name__)


def error_response(code: int, description: str | None = None, examples=None) -> OpenApiResponse:
    """A documented error: the one error shape, with what it means for the operation."""
    return OpenApiResponse(
        ErrorSerializer,
        description=description or _ERROR_DESCRIPTIONS[code],
        examples=examples or [],
    )


def rule(
    status: int, code: str, message: str, field: str | None = None, *, name: str | None = None
) -> tuple:
    """An example of an error an operation answers (see errors(examples=...)): above all
    the rules that depend on the program's data, which no schema can state (an unknown
    store, a currency without a rate, what is left on a sale)."""
    error = {"code": code, "message": message}
    if field:
        error["fields"] = {field: message}
    return status, OpenApiExample(
        name or code, summary=name or code, value={"error": error}, status_codes=[str(status)]
    )


def errors(*codes: int, notes: dict[int, str] | None = None, examples=()) -> dict:
    """Error responses for @extend_schema: `codes` and `notes` (which replaces the generic
    description of a status for one operation), with `examples` (see rule). Every
    operation also answers the ALWAYS statuses (and a write ON_WRITES): the schema class
    adds them (api_schema)."""
    notes = notes or {}
    by_status: dict[int, list] = {}
    for code, example in examples:
        by_status.setdefault(code, []).append(example)
    return {
        code: error_response(code, notes.get(code), by_status.get(code))
        for code in sorted({*codes, *notes, *by_status})
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
            raise exceptions.NotAuthenticated(f"An API key is required: send '{HEADER_HINT}'.")
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


# --- The member-number parameter and idempotency (Idempotency-Key) ---------------------

NUMBER = OpenApiParameter(
    "number", OpenApiTypes.STR, OpenApiParameter.PATH, description="The 10-digit member number."
)
IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
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
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise DomainError(
            f"Idempotency-Key is at most {IDEMPOTENCY_KEY_MAX} characters.",
            field="Idempotency-Key",
        )
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
