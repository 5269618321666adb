"""Claiming trigger e-mails from the program's jobs (birthday, expiry, club renewal).

The unique (member, trigger, occasion) row is the claim: at most once, even if beat
fires twice. The dispatcher (campaigns.services.dispatch.messages_dispatch) applies consent,
priority and the weekly cap, and queues the sending."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import experiments
from campaigns.models import MessageLog, TriggerConfig
from members.models import Member

# Service messages go out whatever the marketing consent and are not capped.
SERVICE_TRIGGERS = {"carats_expiring", "club_renewal"}


def message_claim(*, member: Member, trigger: str, occasion: str) -> MessageLog | None:
    """Claim the right to send; None if this occasion was already claimed or the trigger
    is switched off."""
    cfg = TriggerConfig.objects.filter(trigger=trigger).first()
    if cfg is not None and not cfg.enabled:
        return None
    marketing = cfg.marketing if cfg is not None else trigger not in SERVICE_TRIGGERS
    # The trigger's control group: the claim is recorded as "held out" and never sent.
    held = cfg is not None and experiments.held_out(
        experiments.experiment_key("trigger", cfg.pk), member.pk, cfg.holdout_percent
    )
    try:
        with transaction.atomic():
            return MessageLog.objects.create(
                member=member,
                trigger=trigger,
                occasion=occasion,
                marketing=marketing,
                priority=cfg.priority if cfg else 50,
                due_at=timezone.now(),
                status=MessageLog.Status.HELD_OUT if held else MessageLog.Status.SCHEDULED,
            )
    except IntegrityError:
        return None


def message_context(log: MessageLog) -> dict:
    """Facts for the template, derived from the occasion (e.g. 'expiry:2027-01-31:120')."""
    parts = log.occasion.split(":")
    if log.trigger == "carats_expiring" and len(parts) == 3:
        from campaigns.services.earning import program

        # The date and amount are the expiry job's own (lifecycle.expiry_forecast). Only
        # under the inactivity policy does earning keep carats from expiring.
        return {
            "expiry_date": parts[1],
            "carats": int(parts[2]),
            "earning_keeps_carats": program().expiry_policy == "inactivity",
        }
    if log.trigger == "club_renewal" and len(parts) >= 2:
        from campaigns.models import ClubMembership

        membership = ClubMembership.objects.select_related("club").filter(pk=parts[1]).first()
        return {"membership": membership}
    if log.trigger == "birthday":
        return {"gift": log.member.birthday_gifts.order_by("-year").first()}
    return {}
