"""Trigger e-mails: claim a (member, trigger, occasion) row first, send after commit.

The unique row is the claim (at most once, even if beat fires twice); the task re-reads
it and is safe to run again (a sent message is not sent twice; a failed one retries)."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from campaigns.models import MessageLog
from members.models import Member

# Service messages go out whatever the marketing consent; the rest need it.
SERVICE_TRIGGERS = {"carats_expiring", "club_renewal"}


def message_claim(*, member: Member, trigger: str, occasion: str) -> MessageLog | None:
    """Claim the right to send; None if this occasion was already claimed."""
    try:
        with transaction.atomic():
            log = MessageLog.objects.create(member=member, trigger=trigger, occasion=occasion)
    except IntegrityError:
        return None
    from campaigns.tasks import send_message

    transaction.on_commit(lambda: send_message.delay(log.pk))
    return log


def message_send(*, log_id: int, context: dict | None = None) -> MessageLog:
    log = MessageLog.objects.select_related("member").get(pk=log_id)
    if log.status in (MessageLog.Status.SENT, MessageLog.Status.SKIPPED):
        return log
    member = log.member
    if log.trigger not in SERVICE_TRIGGERS and not member.email_opt_in:
        log.status = MessageLog.Status.SKIPPED
        log.save(update_fields=["status"])
        return log
    ctx = {"member": member, "site_url": settings.CARAT_SITE_URL, **(context or {})}
    ctx.update(message_context(log))
    with translation.override(member.language):
        subject = render_to_string(f"campaigns/email/{log.trigger}_subject.txt", ctx).strip()
        body = render_to_string(f"campaigns/email/{log.trigger}_body.txt", ctx)
    log.attempts += 1
    log.subject = subject[:200]
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [member.email])
    except OSError as exc:
        log.status, log.error = MessageLog.Status.FAILED, str(exc)[:255]
        log.save(update_fields=["status", "error", "attempts", "subject"])
        raise
    log.status, log.sent_at, log.error = MessageLog.Status.SENT, timezone.now(), ""
    log.save(update_fields=["status", "sent_at", "error", "attempts", "subject"])
    return log


def message_context(log: MessageLog) -> dict:
    """Facts for the template, derived from the occasion (e.g. 'expiry:2027-01-31:120')."""
    parts = log.occasion.split(":")
    if log.trigger == "carats_expiring" and len(parts) == 3:
        return {"expiry_date": parts[1], "carats": int(parts[2])}
    if log.trigger == "club_renewal" and len(parts) >= 2:
        from campaigns.models import ClubMembership

        membership = ClubMembership.objects.select_related("club").filter(pk=parts[1]).first()
        return {"membership": membership}
    if log.trigger == "birthday":
        return {"gift": log.member.birthday_gifts.order_by("-year").first()}
    return {}
