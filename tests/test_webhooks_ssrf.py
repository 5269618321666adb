"""Webhook endpoints cannot reach the program's own network (SSRF), and their signing
secret is shown once. The receivers listen on 127.0.0.1: refused unless a test allows it."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from loyalty.kernel import outbound
from loyalty.kernel.models import WebhookDelivery, WebhookEndpoint
from loyalty.kernel.webhooks import deliver_due, emit
from members.models import User


class Server:
    """A local HTTP server answering every POST with `status`, `body` and `headers`."""

    def __init__(self, status=204, body=b"", headers=None):
        self.received = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                server.received.append(dict(self.headers))
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def resolver(monkeypatch):
    """A DNS that answers what the test says for some names (the rest as usual)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port, 0, 0) if ":" in ip else (ip, port),
                )
                for ip in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def deliver_to(url: str) -> WebhookDelivery:
    """One event to an endpoint with this URL (stored as is, as an old row or a change
    made outside the console would be), delivered now."""
    WebhookEndpoint.objects.all().delete()
    endpoint = WebhookEndpoint.objects.create(name="Hook", url=url, secret="whsec_x")
    emit("member.updated", member_id=1, data={"x": 1})
    deliver_due()
    return WebhookDelivery.objects.get(endpoint=endpoint)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://0.0.0.0:{port}/hook",
    ],
)
def test_delivery_to_a_local_address_is_refused_at_connect_time(server, url):
    delivery = deliver_to(url.format(port=server.port))
    assert server.received == []
    assert delivery.status == "failed"  # for good: not retried
    assert delivery.last_status_code is None
    assert delivery.last_response.startswith("Refused")


@pytest.mark.django_db
def test_a_public_looking_name_that_resolves_to_a_private_address_is_refused(server, resolver):
    resolver["hooks.partner.example"] = ["127.0.0.1"]
    delivery = deliver_to(f"http://hooks.partner.example:{server.port}/hook")
    assert server.received == []
    assert delivery.status == "failed" and delivery.last_response.startswith("Refused")
    # One private address among public ones is enough to refuse.
    resolver["mixed.partner.example"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(outbound.UnsafeDestination):
        outbound.resolve_public("mixed.partner.example", 443)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 - an address under test, nothing binds it
        "224.0.0.1",
        "240.0.0.1",
        "100.64.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
    ],
)
def test_non_public_addresses(address):
    assert not outbound.address_is_public(address)


def test_public_addresses():
    assert outbound.address_is_public("93.184.216.34")
    assert outbound.address_is_public("2606:2800:220:1:248:1893:25c8:1946")


@pytest.mark.django_db
def test_an_allowed_network_is_reached_by_the_checked_address_with_the_names_host_header(
    server, resolver, settings
):
    settings.CARAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    resolver["erp.corp.example"] = ["127.0.0.1"]
    delivery = deliver_to(f"http://erp.corp.example:{server.port}/hook")
    assert delivery.status == "delivered"
    assert server.received[0]["Host"] == f"erp.corp.example:{server.port}"


@pytest.mark.django_db
def test_redirects_are_not_followed_and_the_log_keeps_a_short_excerpt(settings):
    settings.CARAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    inner = Server()
    outer = Server(
        status=307,
        body=b"x" * 5000,
        headers={"Location": f"http://127.0.0.1:{inner.port}/internal"},
    )
    try:
        delivery = deliver_to(f"http://127.0.0.1:{outer.port}/hook")
    finally:
        outer.close()
        inner.close()
    assert len(outer.received) == 1 and inner.received == []
    assert delivery.last_status_code == 307 and delivery.status == "pending"
    assert len(delivery.last_response) <= 200


@pytest.mark.django_db
def test_http_is_refused_in_production(server, settings):
    settings.CARAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.CARAT_WEBHOOK_ALLOW_HTTP = False
    delivery = deliver_to(f"http://127.0.0.1:{server.port}/hook")
    assert server.received == []
    assert delivery.status == "failed" and "https" in delivery.last_response


# --- the console form: a friendly message at save ----------------------------------------


@pytest.fixture
def integration(client, console_user):
    user = console_user("Integration admin")
    client.force_login(user)
    return user


def add_endpoint(client, url):
    return client.post(
        reverse("admin:loyalty_webhookendpoint_add"),
        {"name": "Shop", "url": url, "active": "on", "timeout_seconds": 5},
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/hook",
        "http://0.0.0.0/hook",
        "https://10.0.0.5/hook",
        "https://hooks.partner.example/hook",  # resolves to a private address (below)
    ],
)
def test_the_console_refuses_a_non_public_endpoint_with_a_message(
    client, integration, resolver, url
):
    resolver["hooks.partner.example"] = ["192.168.0.10"]
    response = add_endpoint(client, url)
    assert response.status_code == 200
    assert "is not a public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_console_asks_for_https_in_production(client, integration, settings):
    settings.CARAT_WEBHOOK_ALLOW_HTTP = False
    response = add_endpoint(client, "http://hooks.partner.example/hook")
    assert "must start with https://" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


# --- the signing secret: shown once, then masked, rolled by an action ---------------------


def test_the_secret_is_shown_once_then_masked_and_can_be_rolled(client, integration, resolver):
    resolver["hooks.partner.example"] = ["93.184.216.34"]
    response = client.post(
        reverse("admin:loyalty_webhookendpoint_add"),
        {
            "name": "Shop",
            "url": "https://hooks.partner.example/hook",
            "active": "on",
            "timeout_seconds": 5,
        },
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 30
    assert endpoint.secret in response.content.decode()  # once, on the page after saving

    change = reverse("admin:loyalty_webhookendpoint_change", args=[endpoint.pk])
    page = client.get(change).content.decode()
    assert endpoint.secret not in page
    assert endpoint.secret[-4:] in page  # masked, recognisable

    old = endpoint.secret
    response = client.post(
        reverse("admin:loyalty_webhookendpoint_changelist"),
        {"action": "roll_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in client.get(change).content.decode()


def test_a_superuser_cannot_type_a_secret_either(client, db):
    client.force_login(
        User.objects.create_superuser(email="root@example.com", password="x-1234567")
    )
    client.post(
        reverse("admin:loyalty_webhookendpoint_add"),
        {
            "name": "Shop",
            "url": "https://93.184.216.34/hook",
            "active": "on",
            "timeout_seconds": 5,
            "secret": "guessable",
        },
    )
    assert WebhookEndpoint.objects.get().secret != "guessable"
