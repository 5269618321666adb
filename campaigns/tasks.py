"""Thin Celery wrappers: each job calls one service and is safe to run twice."""

from celery import shared_task

from .services import (
    birthday_gifts_grant,
    broadcasts_select,
    carats_expire,
    challenges_expire,
    club_reminders,
    message_deliver,
    messages_dispatch,
    pending_release_due,
    triggers_select,
)


@shared_task(name="campaigns.release_pending", acks_late=True)
def release_pending_carats() -> int:
    return pending_release_due()


@shared_task(name="campaigns.birthdays", acks_late=True)
def grant_birthday_gifts() -> int:
    return birthday_gifts_grant()


@shared_task(name="campaigns.expire_carats", acks_late=True)
def expire_carats() -> dict:
    run = carats_expire()
    return {"members": run.expired_members, "carats": run.expired_carats, "warned": run.warned}


@shared_task(name="campaigns.club_reminders", acks_late=True)
def remind_clubs() -> int:
    return club_reminders()


@shared_task(name="campaigns.select_triggers", acks_late=True)
def select_triggers() -> dict:
    """Hourly: claim the date-based trigger mails that are due in each time zone, claim
    due broadcasts, then dispatch."""
    report = triggers_select()
    broadcasts = broadcasts_select()
    dispatched = messages_dispatch()
    return {"claimed": report.claimed, "broadcast": broadcasts, "queued": dispatched.queued}


@shared_task(name="campaigns.dispatch_messages", acks_late=True)
def dispatch_messages() -> int:
    """Every few minutes: broadcasts whose time came, and event-driven mails that came
    due (basket, thank-you)."""
    broadcasts_select()
    return messages_dispatch().queued


@shared_task(name="campaigns.send_broadcasts_now", acks_late=True)
def send_broadcasts_now() -> int:
    """A broadcast marketing sends now: claim its rows and dispatch them at once."""
    broadcasts_select()
    return messages_dispatch().queued


@shared_task(
    name="campaigns.send_messages",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=3600,
    max_retries=10,
)
def send_messages(log_ids: list[int]) -> int:
    return sum(message_deliver(log_id=i) == "sent" for i in log_ids)


@shared_task(name="campaigns.expire_challenges", acks_late=True)
def expire_challenges() -> int:
    return challenges_expire()


@shared_task(name="campaigns.choose_variant_winners", acks_late=True)
def choose_variant_winners() -> int:
    from .services.variants import variant_winners_choose

    return variant_winners_choose()
