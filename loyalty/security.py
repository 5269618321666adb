"""Security headers and login throttling."""

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


class ThrottledModelBackend(ModelBackend):
    """Refuses a login after too many failures for the same e-mail or the same address
    (LOGIN_FAILURE_LIMIT in LOGIN_FAILURE_WINDOW seconds), on every login form: member,
    POS and console. A success clears the e-mail's count."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        keys = _keys(request, username or kwargs.get("email"))
        limit = getattr(settings, "LOGIN_FAILURE_LIMIT", 10)
        try:
            blocked = any(cache.get(k, 0) >= limit for k in keys)
        except Exception:  # cache down: do not lock everyone out
            blocked, keys = False, []
        if blocked:
            raise PermissionDenied("Too many failed logins; try again later.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        window = getattr(settings, "LOGIN_FAILURE_WINDOW", 900)
        try:
            if user is None:
                for k in keys:
                    cache.add(k, 0, window)
                    try:
                        cache.incr(k)
                    except ValueError:
                        cache.set(k, 1, window)
            elif keys:
                cache.delete(keys[0])
        except Exception:  # cache down: counting is best effort
            logging.getLogger(__name__).warning("login throttle cache unavailable")
        return user


def _keys(request, username) -> list[str]:
    keys = []
    if username:
        keys.append(f"login-fail:user:{str(username).strip().lower()}")
    if request is not None:
        ip = request.META.get("REMOTE_ADDR", "")
        if ip:
            keys.append(f"login-fail:ip:{ip}")
    return keys


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
