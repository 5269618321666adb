"""API key authentication for tills, the web shop and the ERP.

Clients send `Authorization: Bearer <key>` (the primary scheme; `Authorization: Api-Key
<key>` and `X-Api-Key: <key>` keep working for existing clients). Keys look like
`crt_<prefix>_<secret>`; the prefix finds the row, the SHA-256 of the whole key is
compared in constant time. Session logins (members, staff) are not API clients."""

import hashlib
import hmac
import logging
import threading
import time

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone
from django.utils.connection import ConnectionProxy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from loyalty.kernel import config
from loyalty.kernel.errors import Forbidden

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


# Keys that were found valid, per process, for CARAT_CONFIG_CACHE_SECONDS: every till
# request carries its key, and reading it each time was a query per request. A revoked key
# stops working everywhere within that time. Only valid keys are kept, so random keys
# cannot fill the memory.
_valid_keys: dict[str, tuple[float, ApiKey]] = {}


def _active_key(prefix: str, digest: str) -> ApiKey | None:
    ttl = config.ttl()
    now = time.monotonic()
    hit = _valid_keys.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    key = ApiKey.objects.select_related("store").filter(prefix=prefix, active=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        _valid_keys.pop(digest, None)
        return None
    if ttl > 0:
        if len(_valid_keys) > 10_000:  # bounded, whatever happens
            _valid_keys.clear()
        _valid_keys[digest] = (now + ttl, key)
    return key


# The Authorization schemes a key may come with: Bearer first (what generated clients and
# the docs' "Authorize" box send), Api-Key for the clients written before it. The scheme
# name is case-insensitive (RFC 9110).
KEY_SCHEMES = ("bearer", "api-key")
# How the console and the messages tell a client to send its key.
HEADER_HINT = "Authorization: Bearer <key>"


def key_header(plain: str) -> str:
    """The exact header line to paste into a client for the key `plain`."""
    return f"Authorization: Bearer {plain}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() in KEY_SCHEMES:
            plain = rest.strip()
        else:
            plain = request.headers.get("X-Api-Key", "").strip()
        if not plain:
            return None
        parts = plain.split("_", 2)
        if len(parts) != 3 or parts[0] != "crt":
            raise exceptions.AuthenticationFailed("Malformed API key.")
        digest = hashlib.sha256(plain.encode()).hexdigest()
        key = _active_key(parts[1], digest)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            key.last_used_at = now  # on the cached object too: one write a minute
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return ApiClient(key), key

    def authenticate_header(self, request):
        return self.keyword


TILL = ApiKey.Scope.TILL
INTEGRATION = ApiKey.Scope.INTEGRATION
READ_ONLY = ApiKey.Scope.READ_ONLY


def scopes(**by_method: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """A view's `required_scopes`: per HTTP method, the key scopes that may call it,
    e.g. `scopes(get=(TILL, INTEGRATION, READ_ONLY), patch=(INTEGRATION,))`. A method not
    named is refused to every key."""
    known = set(ApiKey.Scope.values)
    declared = {}
    for method, allowed in by_method.items():
        if not allowed or not set(allowed) <= known:
            raise ValueError(f"{method}: scopes must be some of {sorted(known)}, not {allowed}")
        declared[method.upper()] = frozenset(allowed)
    if "GET" in declared:  # HEAD is a GET without its body
        declared.setdefault("HEAD", declared["GET"])
    return declared


def scopes_for(view, method: str) -> frozenset[str]:
    """The scopes `view` (a class or an instance) admits for `method`; none when it
    declares nothing. OPTIONS describes the view: for any scope admitted to any method."""
    declared = getattr(view, "required_scopes", None) or {}
    if method == "OPTIONS":
        return frozenset().union(*declared.values())
    return declared.get(method, frozenset())


class HasApiKey(permissions.BasePermission):
    """The one check of what an API key may do: a key, whose scope the view admits for
    this method (`required_scopes`, see `scopes`). A view that declares no scopes is
    refused to every key. The scope is read from the key authentication already loaded:
    no query."""

    message = f"An API key is required: send '{HEADER_HINT}'."

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return False  # answered 401 by ApiView.permission_denied
        if key.scope in scopes_for(view, request.method):
            return True
        if not hasattr(view, request.method.lower()):
            return True  # a method the view does not serve: DRF answers it with a 405
        allowed = sorted(scopes_for(view, request.method))
        if allowed:
            needs = " or ".join(allowed)
            message = f"This API key's scope ({key.scope}) may not do this; it needs {needs}."
        else:
            message = "No API key may do this."
        raise Forbidden(message, code="scope_not_allowed")

    @staticmethod
    def allows(request, view) -> bool:
        """Whether has_permission lets the request through, without raising."""
        key = request.auth
        return isinstance(key, ApiKey) and key.scope in scopes_for(view, request.method)


_redis_clients: dict[int, object] = {}


def _backend(cache):
    """The backend behind django.core.cache.cache (a proxy to this thread's backend)."""
    return caches[DEFAULT_CACHE_ALIAS] if isinstance(cache, ConnectionProxy) else cache


def _count(cache, key: str, ttl: int, n: int = 1) -> int:
    """Add `n` to the window's shared counter and return its new value. On Redis one
    round trip (INCRBY and EXPIRE pipelined) through one client per process on Django's
    connection pool; elsewhere (tests, make run) the cache API's add and incr."""
    if isinstance(cache, RedisCache):
        client = _redis_clients.get(id(cache))
        if client is None:
            client = _redis_clients[id(cache)] = cache._cache.get_client(write=True)
        pipe = client.pipeline(transaction=False)
        full = cache.make_and_validate_key(key)
        pipe.incrby(full, n)
        pipe.expire(full, ttl)
        return int(pipe.execute()[0])
    try:
        return cache.incr(key, n)
    except ValueError:  # the window's first request (or a race for it)
        return n if cache.add(key, n, ttl) else cache.incr(key, n)


# Requests a process may take from the shared counter at once (see _Leases).
LEASE_MAX = 32
LEASE_SHARE = 16


class _Leases:
    """Per process: what this process took from each window's shared counter and has
    not used yet.

    A till API key makes requests all day; counting each one in the shared cache was a
    round trip to Redis per request, an eighth of an earn's time in a web worker. So a
    process takes a *lease* of several requests at once (one INCRBY) and spends it
    locally. The shared counter holds every request leased, used or not, so all the
    processes together never admit more than the limit. A lease is at most LEASE_MAX and
    at most 1/LEASE_SHARE of what was left of the window when it was taken, so near the
    limit leases shrink to one request and the counting is exact; what a process leased
    and did not use is lost with the window (a key far below its limit never notices)."""

    def __init__(self):
        self.lock = threading.Lock()  # gthread workers share a process
        self.left: dict[str, int] = {}  # window key -> requests leased, not used yet
        self.seen: dict[str, int] = {}  # window key -> the shared count at the last lease

    def take(self, cache, key: str, limit: int, ttl: int) -> bool:
        with self.lock:
            left = self.left.get(key, 0)
            if left > 0:
                self.left[key] = left - 1
                return True
            remaining = limit - self.seen.get(key, 0)
            if remaining <= 0:
                return False  # refused in this window already: no more round trips
            lease = max(1, min(LEASE_MAX, remaining // LEASE_SHARE))
            if len(self.seen) > 10_000:  # past windows and keys: bounded, whatever happens
                self.left.clear()
                self.seen.clear()
        total = _count(cache, key, ttl, lease)  # outside the lock: a network round trip
        granted = max(0, min(lease, limit - (total - lease)))
        with self.lock:
            self.seen[key] = max(self.seen.get(key, 0), total)
            if granted > 1:
                self.left[key] = self.left.get(key, 0) + granted - 1
        return granted > 0

    def clear(self) -> None:
        with self.lock:
            self.left.clear()
            self.seen.clear()


_leases = _Leases()


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """A counter per key and fixed window (e.g. per minute) in the shared cache, taken
    in leases (see _Leases): a round trip to the cache every few dozen requests, not on
    each. DRF's default keeps the list of every request time of the window and rewrites
    it on each request, which at a till's rate is thousands of timestamps pickled per
    request."""

    scope = "api_key"

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        key = f"{ident}:{window}"
        self._wait = self.duration - (now % self.duration)
        # Fail open: a cache outage must not stop the tills from recording sales.
        try:
            return _leases.take(_backend(self.cache), key, self.num_requests, self.duration + 1)
        except ValueError:  # the window's key expired meanwhile
            return True
        except Exception:  # any cache backend error
            logger.warning("rate limit cache unavailable; request allowed")
            return True

    def wait(self):
        return getattr(self, "_wait", None)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LookupRateThrottle(ApiKeyRateThrottle):
    """Code lookups (member by QR/number, voucher by code) have their own, lower rate,
    so a leaked key cannot walk the number space quickly."""

    scope = "lookup"


SCOPES_DOC = (
    "Every key has one scope, and every operation names the scopes it admits (in its "
    "description and as `x-required-scopes`); another key gets a 403 "
    "(`scope_not_allowed`).\n\n"
    "* `till`: a store's till: its store's sales and returns, member lookups, vouchers. "
    "Needs a store.\n"
    "* `integration`: the web shop or the ERP: members, events, sales and returns of any "
    "channel, rewards, vouchers, clubs.\n"
    "* `read_only`: reads (GET) only."
)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Two ways to send the same key, either of which is enough (OR): `Bearer` (the
    primary one: paste the key as the console shows it into the docs' "Authorize" box)
    and `ApiKey` (the header `Authorization: Api-Key <key>`, kept for existing clients)."""

    target_class = "pos.api_auth.ApiKeyAuthentication"
    name = ["Bearer", "ApiKey"]

    def get_security_requirement(self, auto_schema):
        return [{"Bearer": []}, {"ApiKey": []}]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "`Authorization: Bearer <key>`: the key as the console or "
                "create_api_key (`--scope`) shows it.\n\n" + SCOPES_DOC,
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Api-Key <key>` (the value of the Authorization header, "
                "with its `Api-Key ` prefix): the older way, still accepted.",
            },
        ]
