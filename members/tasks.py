from celery import shared_task

from .emails import send_account_email_now


@shared_task(
    name="members.send_account_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
)
def send_account_email(user_id: int, kind: str) -> None:
    send_account_email_now(user_id=user_id, kind=kind)
