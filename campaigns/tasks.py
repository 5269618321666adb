"""Thin Celery wrappers: each job calls one service and is safe to run twice."""

from celery import shared_task

from .services import (
    birthday_gifts_grant,
    carats_expire,
    club_reminders,
    message_send,
    pending_release_due,
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


@shared_task(
    name="campaigns.send_message",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=3600,
    max_retries=10,
)
def send_message(log_id: int) -> None:
    message_send(log_id=log_id)
