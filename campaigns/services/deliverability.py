"""What the mail provider reports after sending (django-anymail's normalized tracking
events, whatever the provider): delivered, bounced, complained. A hard bounce or a spam
complaint marks the address undeliverable on the member: no mail goes to it any more
(campaigns.services.crm.message_deliver, the account and invitation mails) until the
address changes. The message log shows what became of each mail.

Events arrive more than once and out of order (providers retry): every write here is an
idempotent conditional UPDATE, and a delivered report never overwrites a bounce or a
complaint."""

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import MessageLog
from members.models import Member

# anymail event_type -> the message log's delivery status
DELIVERY = {
    "delivered": MessageLog.Delivery.DELIVERED,
    "bounced": MessageLog.Delivery.BOUNCED,
    "rejected": MessageLog.Delivery.BOUNCED,  # the provider refused the address
    "complained": MessageLog.Delivery.COMPLAINED,
}
UNDELIVERABLE = {"bounced", "rejected", "complained"}


def delivery_event_record(
    *,
    event_type: str,
    recipient: str,
    message_id: str = "",
    description: str = "",
    at: datetime | None = None,
) -> int:
    """Record one provider event; returns the number of message log rows it updated."""
    delivery = DELIVERY.get(event_type)
    if delivery is None:
        return 0
    at = at or timezone.now()
    recipient = (recipient or "").strip().lower()[:254]
    with transaction.atomic():
        logs = _logs_for(message_id=message_id or "", recipient=recipient)
        if delivery == MessageLog.Delivery.DELIVERED:
            logs = logs.filter(delivery="")
        updated = logs.update(delivery=delivery, delivery_at=at)
        if event_type in UNDELIVERABLE and recipient:
            reason = f"{event_type}: {description}".strip(": ")[:200]
            Member.objects.filter(
                email__iexact=recipient, email_undeliverable_at__isnull=True
            ).update(email_undeliverable_at=at, email_undeliverable_reason=reason)
    return updated


def _logs_for(*, message_id: str, recipient: str):
    """The message(s) an event is about: by the provider's message id, or ours
    (carat-<pk>@domain, the Message-ID header every mail carries); else the last mail
    sent to the address."""
    message_id = message_id.strip("<> ")[:255]
    if message_id:
        q = Q(esp_message_id=message_id)
        if message_id.startswith("carat-") and "@" in message_id:
            pk = message_id[len("carat-") :].split("@", 1)[0]
            if pk.isdigit():
                q |= Q(pk=int(pk))
        found = MessageLog.objects.filter(q)
        if found.exists():
            return found
    last = (
        MessageLog.objects.filter(member__email__iexact=recipient, status="sent")
        .order_by("-sent_at")
        .values("pk")[:1]
    )
    return MessageLog.objects.filter(pk__in=last)


def address_deliverable_again(*, member: Member) -> Member:
    """Marketing cleared the address (e.g. the member fixed their mailbox)."""
    Member.objects.filter(pk=member.pk).update(
        email_undeliverable_at=None, email_undeliverable_reason=""
    )
    member.email_undeliverable_at = None
    member.email_undeliverable_reason = ""
    return member
