from celery import shared_task

from .outbox import outbox_flush


@shared_task(name="loyalty.outbox_flush")
def flush_outbox() -> int:
    return outbox_flush()
