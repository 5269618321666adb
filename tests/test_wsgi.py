"""The WSGI application as gunicorn calls it: API requests through the short middleware
stack (no session, CSRF or language), pages through the full one. The test client uses
the full stack for everything, so these requests go through loyalty.wsgi itself."""

import io
import json
import sys

import pytest

from loyalty.wsgi import api_application, application, pages_application
from pos.services import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)


def call(method: str, path: str, *, body: dict | None = None, headers: dict | None = None):
    raw = json.dumps(body).encode() if body is not None else b""
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()},
    }
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"] = int(status.split()[0])
        seen["headers"] = response_headers

    chunks = application(environ, start_response)
    content = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    names = {}
    for name, value in seen["headers"]:
        names.setdefault(name.lower(), []).append(value)
    return seen["status"], names, content


def test_api_requests_take_the_short_stack_and_pages_the_full_one():
    api = {type(m).__name__ for m in _chain(api_application)}
    pages = {type(m).__name__ for m in _chain(pages_application)}
    assert "SessionMiddleware" not in api and "CsrfViewMiddleware" not in api
    assert {"SecurityMiddleware", "DatabaseUnavailableMiddleware"} <= api
    assert {"SessionMiddleware", "CsrfViewMiddleware", "LocaleMiddleware"} <= pages


def _chain(handler):
    """The middleware instances of a handler, outermost first (Django wraps each in a
    function that keeps it as __wrapped__)."""
    found, fn = [], handler._middleware_chain
    while hasattr(getattr(fn, "__wrapped__", None), "get_response"):
        found.append(fn.__wrapped__)
        fn = fn.__wrapped__.get_response
    return found


def test_a_sale_over_the_api_stack_is_recorded_with_security_headers(member, antwerp):
    _, plain = api_key_create(name="till", store=antwerp)
    status, headers, content = call(
        "POST",
        "/api/v1/purchases/",
        body={
            "member": member.qr_payload,
            "store": "antwerp",
            "receipt_id": "W-1",
            "amount": "120.00",
            "currency": "EUR",
        },
        headers={"Authorization": f"Api-Key {plain}", "Accept-Language": "nl"},
    )
    assert status == 201, content
    assert json.loads(content)["carats_awarded"] == 120
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["referrer-policy"] == ["same-origin"]
    assert "set-cookie" not in headers  # no session, no CSRF cookie
    # Errors stay JSON through the short stack, in English whatever the client's language.
    status, _, content = call(
        "GET",
        "/api/v1/members/lookup/?code=CARAT1:nobody",
        headers={"Authorization": f"Api-Key {plain}"},
    )
    assert status == 404 and json.loads(content)["error"]["code"] == "unknown_member"
    status, _, content = call("GET", "/api/v1/tiers/")
    assert status in (401, 403) and "error" in json.loads(content)


def test_pages_keep_sessions_csrf_and_the_visitors_language(db):
    status, headers, _ = call("GET", "/account/login/", headers={"Accept-Language": "nl"})
    assert status == 200
    assert any(c.strip().startswith("csrftoken=") for c in headers.get("set-cookie", []))
    assert headers["content-language"] == ["nl"]
    assert "content-security-policy" in headers
