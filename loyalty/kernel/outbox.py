"""Queue a task after commit without losing it when the broker is down.

`enqueue("members.send_account_email", user.pk, "verify")` inside a transaction writes
an OutboxTask row; after commit it is published at once. A publishing error (broker
down) is logged and left for `outbox_flush`, which celery-beat runs every minute (and
which is safe to run while the broker is still down). Tasks must be safe to run twice."""

import logging
from datetime import timedelta

from celery import current_app
from django.db import transaction
from django.utils import timezone

from .models import OutboxTask

log = logging.getLogger(__name__)


def enqueue(task: str, *args) -> OutboxTask:
    row = OutboxTask.objects.create(task=task, args=list(args))
    # robust: a failure here must not turn a committed request into an error.
    transaction.on_commit(lambda: publish(row.pk), robust=True)
    return row


def _task(name: str):
    if name not in current_app.tasks:
        # The web process has not imported the apps' tasks modules yet.
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def publish(row_id: int) -> bool:
    row = OutboxTask.objects.filter(pk=row_id, published_at__isnull=True).first()
    if row is None:
        return False
    try:
        # No retries inside the request: a broker that is down fails fast and the
        # minute job publishes the row later.
        _task(row.task).apply_async(args=row.args, retry_policy={"max_retries": 0})
    except Exception as exc:
        log.warning("outbox: could not publish %s (%s), will retry", row, exc)
        OutboxTask.objects.filter(pk=row.pk).update(
            attempts=row.attempts + 1, last_error=str(exc)[:255]
        )
        return False
    OutboxTask.objects.filter(pk=row.pk).update(
        published_at=timezone.now(), attempts=row.attempts + 1
    )
    return True


def outbox_flush(*, older_than: timedelta = timedelta(seconds=30), limit: int = 5000) -> int:
    """Publish what after-commit publishing missed. Returns how many went out."""
    cutoff = timezone.now() - older_than
    ids = list(
        OutboxTask.objects.filter(published_at__isnull=True, created_at__lte=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for row_id in ids:
        if not publish(row_id):
            break  # the broker is still down: try again next minute
        done += 1
    return done
