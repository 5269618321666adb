from django.db import models
from django.utils import timezone


class OutboxTask(models.Model):
    """A Celery task written in the same transaction as the change that needs it, and
    published after commit. If the broker is down the row waits, and the minute job
    publishes it when the broker is back: nothing is lost between commit and queue."""

    task = models.CharField(max_length=100)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_unpublished",
                condition=models.Q(published_at__isnull=True),
            )
        ]

    def __str__(self):
        return f"{self.task}{tuple(self.args)}"
