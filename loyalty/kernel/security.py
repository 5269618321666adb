"""Security headers and login throttling."""

import hashlib
import logging

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

# Member, POS and mail pages: our own scripts only (no inline script anywhere).
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# The Django admin and the API docs (Swagger UI) ship inline scripts.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.console_prefixes = ("/" + settings.ADMIN_PATH, "/api/docs", "/api/redoc")

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and response.get(
            "Content-Type", ""
        ).startswith("text/html"):
            console = request.path.startswith(self.console_prefixes)
            response["Content-Security-Policy"] = CONSOLE_CSP if console else STRICT_CSP
        response.setdefault("Referrer-Policy", "same-origin")
        response.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        return response


_proxy_warned = False


def _warn_proxy() -> None:
    global _proxy_warned
    _proxy_warned = True
    logging.getLogger(__name__).warning(
        "A request came with X-Forwarded-For while CARAT_TRUSTED_PROXIES is 0: behind a "
        "proxy, set it to the number of proxies, or every client shares the proxy's "
        "address in the login throttle."
    )


def client_ip(request) -> str:
    """The client's address. Behind CARAT_TRUSTED_PROXIES proxies (default 0: none),
    X-Forwarded-For is read from the right: each trusted proxy appends the address it saw,
    so the entry that many places from the end is the one the outermost trusted proxy saw.
    Entries further left were written by the client and are never trusted; a request with
    fewer entries than trusted proxies did not come through them, and its peer is used."""
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = getattr(settings, "CARAT_TRUSTED_PROXIES", 0)
    if proxies <= 0:
        if "HTTP_X_FORWARDED_FOR" in request.META and not _proxy_warned:
            _warn_proxy()
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies][:64]


def _digest(value) -> str:
    return hashlib.sha256(str(value).strip().lower().encode()).hexdigest()[:32]


def rate_allow(key: str, *, limit: int, window: int) -> bool:
    """Count one event under `key`; False once more than `limit` happened in `window`
    seconds (e.g. account mails per address). With the cache down, allow."""
    key = f"rate:{_digest(key)}"
    try:
        cache.add(key, 0, window)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, window)
            count = 1
    except Exception:
        logging.getLogger(__name__).warning("rate limit cache unavailable")
        return True
    return count <= limit


class FailureThrottle:
    """Slows down password guessing without handing anyone a way to lock out others.

    Failures are counted per (client address, account): after LOGIN_FAILURE_LIMIT of them
    within LOGIN_FAILURE_WINDOW seconds, that pair waits LOGIN_FAILURE_DELAY seconds,
    doubled at each further failure (at most the window). The owner, on another address,
    is never blocked by a stranger's tries; nor is anyone else behind the same address.
    Guessing at many accounts from one address is stopped by a second, larger count per
    address (LOGIN_FAILURE_ADDRESS_LIMIT), which blocks only that address. Behind a proxy,
    set CARAT_TRUSTED_PROXIES so the address is the client's (see client_ip).
    `scope` keeps separate counts per form (login, erasure confirmation)."""

    def __init__(self, scope: str):
        self.scope = scope

    def _keys(self, request, account) -> tuple[str, str] | None:
        ip = client_ip(request)
        if not ip and not account:
            return None
        pair = f"fail:{self.scope}:pair:{_digest(ip + '|' + str(account or ''))}"
        return pair, f"fail:{self.scope}:ip:{_digest(ip)}"

    def blocked(self, request, account) -> bool:
        keys = self._keys(request, account)
        if keys is None:
            return False
        pair, address = keys
        try:
            values = cache.get_many([f"{pair}:lock", address])
        except Exception:  # cache down: do not lock everyone out
            logging.getLogger(__name__).warning("login throttle cache unavailable")
            return False
        address_limit = getattr(settings, "LOGIN_FAILURE_ADDRESS_LIMIT", 100)
        return f"{pair}:lock" in values or values.get(address, 0) >= address_limit

    def failed(self, request, account) -> None:
        keys = self._keys(request, account)
        if keys is None:
            return
        pair, address = keys
        window = getattr(settings, "LOGIN_FAILURE_WINDOW", 900)
        limit = getattr(settings, "LOGIN_FAILURE_LIMIT", 10)
        try:
            counts = []
            for key in (pair, address):
                cache.add(key, 0, window)
                try:
                    counts.append(cache.incr(key))
                except ValueError:
                    cache.set(key, 1, window)
                    counts.append(1)
            if counts[0] >= limit:
                base = getattr(settings, "LOGIN_FAILURE_DELAY", 30)
                delay = min(base * 2 ** min(counts[0] - limit, 16), window)
                cache.set(f"{pair}:lock", 1, delay)
        except Exception:  # cache down: counting is best effort
            logging.getLogger(__name__).warning("login throttle cache unavailable")

    def succeeded(self, request, account) -> None:
        keys = self._keys(request, account)
        if keys is None:
            return
        try:
            cache.delete_many([keys[0], f"{keys[0]}:lock"])
        except Exception:
            logging.getLogger(__name__).warning("login throttle cache unavailable")


login_throttle = FailureThrottle("login")


class ThrottledModelBackend(ModelBackend):
    """Every login form (member, POS, console) goes through FailureThrottle: a client that
    keeps guessing one account's password waits longer and longer; the account's owner
    and everyone else can still log in. A blocked try is refused like a wrong password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        account = str(username or kwargs.get("email") or "").strip().lower()
        if login_throttle.blocked(request, account):
            raise PermissionDenied("Too many failed logins; try again later.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_throttle.failed(request, account)
        else:
            login_throttle.succeeded(request, account)
        return user


class DatabaseUnavailableMiddleware:
    """A database that is restarting answers 503 with Retry-After (JSON for the API),
    not 500; the next request reconnects (CONN_HEALTH_CHECKS)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.db import InterfaceError, OperationalError
        from django.http import HttpResponse, JsonResponse

        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        if request.path.startswith("/api/"):
            body = {
                "error": {
                    "code": "unavailable",
                    "message": "The database is briefly unavailable; retry in a few seconds.",
                }
            }
            response = JsonResponse(body, status=503)
        else:
            response = HttpResponse(
                "<!doctype html><title>One moment</title><p>We are back in a moment. Please try again.</p>",
                status=503,
            )
        response["Retry-After"] = "5"
        return response


def set_language_cookie(response, language: str) -> None:
    """The visitor's language, in the cookie LocaleMiddleware reads, with the settings'
    flags (Secure in production, SameSite), as Django's own set_language view sets it."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
