"""API key authentication for tills, the web shop and the ERP.

Clients send `Authorization: Api-Key <key>` (or `X-Api-Key: <key>`). Keys look like
`crt_<prefix>_<secret>`; the prefix finds the row, the SHA-256 of the whole key is
compared in constant time. Session logins (members, staff) are not API clients."""

import hashlib
import hmac
import logging

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from .models import ApiKey

logger = logging.getLogger(__name__)


class ApiClient:
    """Stands in for request.user on API requests."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, key: ApiKey):
        self.key = key
        self.pk = None

    def __str__(self):
        return f"api:{self.key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if header.startswith(self.keyword + " "):
            plain = header[len(self.keyword) + 1 :].strip()
        else:
            plain = request.headers.get("X-Api-Key", "").strip()
        if not plain:
            return None
        parts = plain.split("_", 2)
        if len(parts) != 3 or parts[0] != "crt":
            raise exceptions.AuthenticationFailed("Malformed API key.")
        key = ApiKey.objects.select_related("store").filter(prefix=parts[1], active=True).first()
        digest = hashlib.sha256(plain.encode()).hexdigest()
        if key is None or not hmac.compare_digest(key.key_hash, digest):
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return ApiClient(key), key

    def authenticate_header(self, request):
        return self.keyword


class HasApiKey(permissions.BasePermission):
    message = "An API key is required: send 'Authorization: Api-Key <key>'."

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    scope = "api_key"

    def allow_request(self, request, view):
        # Fail open: a cache outage must not stop the tills from recording sales.
        try:
            return super().allow_request(request, view)
        except Exception:  # any cache backend error
            logger.warning("rate limit cache unavailable; request allowed")
            return True

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LookupRateThrottle(ApiKeyRateThrottle):
    """Code lookups (member by QR/number, voucher by code) have their own, lower rate,
    so a leaked key cannot walk the number space quickly."""

    scope = "lookup"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "pos.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; create keys in the admin or with create_api_key.",
        }
