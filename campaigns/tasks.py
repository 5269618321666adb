from celery import shared_task

from .services import pending_release_due


@shared_task(name="campaigns.release_pending", acks_late=True)
def release_pending_carats() -> int:
    return pending_release_due()
