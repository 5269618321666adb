"""Signed outbound webhooks, with a real HTTP receiver on 127.0.0.1."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from loyalty.kernel.models import OutboxTask, WebhookDelivery, WebhookEndpoint
from loyalty.kernel.outbox import outbox_flush
from loyalty.kernel.webhooks import deliver_due, resend
from pos.services import purchase_record
from tests.helpers import run_in_threads

SECRET = "whsec-test-123"


@pytest.fixture(autouse=True)
def _the_local_receiver_is_allowed(settings):
    """The receiver listens on 127.0.0.1, which loyalty.kernel.outbound refuses unless allowed
    (tests/test_webhooks_ssrf.py tests the refusals)."""
    settings.CARAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.CARAT_WEBHOOK_ALLOW_HTTP = True


class Receiver:
    """A tiny HTTP server that records what it receives and fails the first N posts."""

    def __init__(self, fail_first=0):
        self.received, self.fail_left = [], fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_left > 0:
                    receiver.fail_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                receiver.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, skip=("member.created",)):
        """What arrived, in order (the fixtures' own member.created left out)."""
        return [e for _h, body in self.received if (e := json.loads(body))["type"] not in skip]

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver(db):
    r = Receiver()
    WebhookEndpoint.objects.create(name="ERP", url=r.url, secret=SECRET)
    yield r
    r.close()


def verify(headers, body) -> bool:
    """The receiver's side, as documented in the README."""
    parts = dict(p.split("=", 1) for p in headers["X-Carat-Signature"].split(","))
    expected = hmac.new(
        SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def sale(member, store, receipt, amount="100.00"):
    return purchase_record(
        member=member,
        channel="store",
        store=store,
        receipt_id=receipt,
        amount=amount,
        currency="EUR",
    )


def test_a_sale_produces_signed_purchase_and_carats_events(
    receiver, member, antwerp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sale(member, antwerp, "W1", "250.00")
    types = [e["type"] for e in receiver.events()]
    assert types == ["carats.changed", "purchase.recorded"]
    assert len(receiver.received) == 3  # member.created of the fixture, then the sale's two
    for headers, body in receiver.received:
        assert verify(headers, body)
    carats = receiver.events()[0]
    assert carats["data"]["balance"] == 250 and carats["data"]["member"] == member.member_number
    assert receiver.events()[1]["data"]["amount_eur"] == "250.00"


def test_a_tampered_body_fails_verification(
    receiver, member, antwerp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sale(member, antwerp, "W2")
    headers, body = receiver.received[-1]
    assert verify(headers, body)
    assert not verify(headers, body.replace(b'"100.00"', b'"900.00"'))


def test_failing_receiver_gets_the_event_once_after_retries(
    db, member, antwerp, django_capture_on_commit_callbacks
):
    r = Receiver(fail_first=3)
    WebhookEndpoint.objects.create(
        name="shop", url=r.url, secret=SECRET, events=["purchase.recorded"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        sale(member, antwerp, "W3")
    d = WebhookDelivery.objects.get()
    assert (d.status, d.attempts, d.last_status_code) == ("pending", 1, 503)
    now = timezone.now()
    for minutes in (1, 3, 10):  # backoff: 30 s, 60 s, 120 s
        deliver_due(now=now + timedelta(minutes=minutes))
    d.refresh_from_db()
    assert (d.status, d.attempts) == ("delivered", 4)
    assert [e["type"] for e in r.events()] == ["purchase.recorded"]
    deliver_due(now=now + timedelta(minutes=30))
    assert len(r.received) == 1
    r.close()


def test_a_receiver_down_for_a_day_is_marked_failed_and_can_be_resent(
    db, member, antwerp, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.create(
        name="gone", url="http://127.0.0.1:9/hook", secret=SECRET, events=["purchase.recorded"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        sale(member, antwerp, "W4")
    deliver_due(now=timezone.now() + timedelta(days=1, minutes=1))
    d = WebhookDelivery.objects.get()
    assert d.status == "failed" and d.attempts == 2
    again = resend(delivery=d)
    assert again.event_id == d.event_id and again.status == "pending"


def test_broker_down_during_the_sale_still_delivers_when_back(
    receiver, member, antwerp, django_capture_on_commit_callbacks
):
    from loyalty.tasks import deliver_webhooks

    down = mock.patch.object(deliver_webhooks, "apply_async", side_effect=OperationalError("down"))
    with down, django_capture_on_commit_callbacks(execute=True):
        result = sale(member, antwerp, "W5")
    assert result.created  # the sale recorded
    assert receiver.received == []
    OutboxTask.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert outbox_flush() >= 1
    assert [e["type"] for e in receiver.events()] == ["carats.changed", "purchase.recorded"]


def test_a_tier_change_produces_tier_changed(
    receiver, member, antwerp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sale(member, antwerp, "W6", "600.00")
    tier_events = [e for e in receiver.events() if e["type"] == "tier.changed"]
    assert (
        tier_events[0]["data"]["from"] == "radiant" and tier_events[0]["data"]["to"] == "marquise"
    )


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_events_of_one_member_arrive_in_order_under_concurrent_sales(enroll, antwerp):
    r = Receiver(fail_first=2)
    WebhookEndpoint.objects.create(name="ERP", url=r.url, secret=SECRET, events=["carats.changed"])
    member = enroll(email="order@example.com")
    results = run_in_threads(lambda i: sale(member, antwerp, f"C{i}", "10.00"), 8)
    assert not [x for x in results if isinstance(x, Exception)]
    for minute in range(1, 30):
        deliver_due(now=timezone.now() + timedelta(minutes=minute))
    balances = [e["data"]["balance"] for e in r.events()]
    assert balances == [10, 20, 30, 40, 50, 60, 70, 80]
    r.close()


def test_console_creates_an_endpoint_and_resends(
    client, receiver, member, antwerp, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from members.models import User

    client.force_login(
        User.objects.create_superuser(email="boss@example.com", password="x-12345678")
    )
    assert client.get(reverse("admin:loyalty_webhookendpoint_add")).status_code == 200
    response = client.post(
        reverse("admin:loyalty_webhookendpoint_add"),
        {
            "name": "Shop",
            "url": "https://shop.example/hooks",
            "events": ["tier.changed"],
            "active": "on",
            "timeout_seconds": 5,
            "secret": "s3cret-value",
        },
    )
    assert response.status_code == 302
    assert WebhookEndpoint.objects.get(name="Shop").events == ["tier.changed"]
    with django_capture_on_commit_callbacks(execute=True):
        sale(member, antwerp, "W7")
    delivery = WebhookDelivery.objects.filter(endpoint__name="ERP").first()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:loyalty_webhookdelivery_changelist"),
            {"action": "resend_selected", "_selected_action": [delivery.pk]},
        )
    ids = [e["id"] for e in receiver.events(skip=())]
    assert ids.count(str(delivery.event.event_id)) == 2  # receivers deduplicate on the id
