"""Signed outbound webhooks that are not lost and keep each member's events in order.

`emit(type, member_id=..., data=...)` writes the event and one delivery per subscribed
endpoint in the caller's transaction. After commit the delivery job is queued (through
the outbox); it also runs every minute. Delivery: JSON body {id, type, created_at, data},
header `X-Carat-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
Retries back off exponentially for a day, then the delivery is marked failed (visible
and resendable in the console). Endpoints are reached through loyalty.kernel.outbound: https
only in production, never a loopback, private, link-local or reserved address (checked
after DNS, at connect time), no redirects; the log keeps 200 characters of the answer. A member's next event waits until the previous one to
the same endpoint is delivered or has failed for good."""

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from . import outbound
from .config import cached
from .models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from .outbox import enqueue

log = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(days=1)
CLAIM_TIMEOUT = timedelta(seconds=60)


def emit(
    event_type: str, *, member_id: int | None = None, data: dict | None = None
) -> WebhookEvent | None:
    active = cached("webhook_endpoints", lambda: list(WebhookEndpoint.objects.filter(active=True)))
    endpoints = [e for e in active if e.wants(event_type)]
    if not endpoints:
        return None
    event = WebhookEvent.objects.create(
        event_id=uuid.uuid4(),
        type=event_type,
        member_id=member_id,
        data=json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder)),
    )
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(event=event, endpoint=e, member_key=member_id or 0) for e in endpoints
    )
    enqueue("loyalty.deliver_webhooks")
    return event


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def body_for(event: WebhookEvent) -> bytes:
    payload = {
        "id": str(event.event_id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _claim_heads(now: datetime, limit: int) -> list[int]:
    """Claim due deliveries that are first in line for their (endpoint, member)."""
    earlier = WebhookDelivery.objects.filter(
        endpoint=OuterRef("endpoint"),
        member_key=OuterRef("member_key"),
        id__lt=OuterRef("id"),
        status__in=["pending", "sending"],
    )
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status="pending", next_attempt_at__lte=now)
            .exclude(Exists(earlier))
            .order_by("id")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids, status="pending").update(
            status="sending", claimed_at=now
        )
    return ids


def deliver_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Deliver what is due. No network call happens inside a transaction: rows are
    claimed (pending -> sending) first, then posted, then the result is written."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(status="sending", claimed_at__lt=now - CLAIM_TIMEOUT).update(
        status="pending"
    )
    delivered = 0
    while True:
        ids = _claim_heads(now, limit)
        if not ids:
            return delivered
        for d in (
            WebhookDelivery.objects.filter(pk__in=ids)
            .select_related("event", "endpoint")
            .order_by("id")
        ):
            delivered += _post(d, now=now)


def _post(d: WebhookDelivery, *, now: datetime) -> int:
    body = body_for(d.event)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Carat-Webhooks/1",
        "X-Carat-Event": d.event.type,
        "X-Carat-Event-Id": str(d.event.event_id),
        "X-Carat-Signature": sign(d.endpoint.secret, timestamp, body),
    }
    code, excerpt, refused = None, "", False
    try:
        # The URL was typed in the console: outbound.post refuses, at connect time, every
        # address that is not public (after DNS) and follows no redirect.
        code, excerpt = outbound.post(
            d.endpoint.url, body=body, headers=headers, timeout=d.endpoint.timeout_seconds
        )
    except outbound.UnsafeDestination as exc:
        refused, excerpt = True, f"Refused: {exc.message}"
    except OSError as exc:
        excerpt = str(exc)
    excerpt = excerpt[: outbound.RESPONSE_EXCERPT]
    attempts = d.attempts + 1
    if code is not None and 200 <= code < 300:
        _write_result(
            d.pk,
            status="delivered",
            attempts=attempts,
            last_status_code=code,
            last_response=excerpt,
            delivered_at=timezone.now(),
        )
        return 1
    # A refused address is not retried: it fails for good at once (and the member's next
    # events to this endpoint are not held behind it).
    give_up = refused or now - d.created_at >= GIVE_UP_AFTER
    backoff = timedelta(seconds=min(30 * 2 ** (attempts - 1), 3 * 3600))
    _write_result(
        d.pk,
        status="failed" if give_up else "pending",
        attempts=attempts,
        last_status_code=code,
        last_response=excerpt,
        next_attempt_at=now + backoff,
    )
    log.info(
        "webhook %s to %s failed (%s), attempt %s", d.event.type, d.endpoint.url, code, attempts
    )
    return 0


def _write_result(pk: int, **fields) -> None:
    """Record the outcome; retried a few times, since a lost write would re-send the
    event (receivers deduplicate on its id) and hold the member's next events."""
    for attempt in range(5):
        try:
            WebhookDelivery.objects.filter(pk=pk).update(**fields)
            return
        except DatabaseError:
            if attempt == 4:
                raise
            close_old_connections()
            time.sleep(0.5 * (attempt + 1))


def resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send again (from the console): a new delivery of the same event, so receivers can
    deduplicate on the event id."""
    new = WebhookDelivery.objects.create(
        event=delivery.event, endpoint=delivery.endpoint, member_key=delivery.member_key
    )
    enqueue("loyalty.deliver_webhooks")
    return new


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


def endpoint_secret_roll(*, endpoint: WebhookEndpoint) -> str:
    """A new signing secret for the endpoint; returns it (shown once in the console).
    Deliveries from now on are signed with it."""
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret"])
    return endpoint.secret
