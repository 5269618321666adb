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


class WebhookEndpoint(models.Model):
    """A receiver of Carat's events (the ERP, the web shop), configured in the console."""

    EVENTS = [
        "member.created",
        "member.updated",
        "member.erased",
        "purchase.recorded",
        "return.recorded",
        "carats.changed",
        "tier.changed",
        "voucher.issued",
        "voucher.redeemed",
        "club.joined",
    ]

    name = models.CharField(max_length=80, help_text="The integration client, e.g. 'ERP'.")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=80, help_text="Shared secret for X-Carat-Signature.")
    events = models.JSONField(default=list, help_text="Event types; empty = all.")
    active = models.BooleanField(default=True)
    timeout_seconds = models.PositiveSmallIntegerField(default=5)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.name} ({self.url})"

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


class WebhookEvent(models.Model):
    """Something that changed, written in the same transaction as the change."""

    event_id = models.UUIDField(unique=True)
    type = models.CharField(max_length=40)
    member_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.type} {self.event_id}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    member_key = models.BigIntegerField(
        default=0, help_text="Ordering key: one member's events go in order."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_due"),
            models.Index(fields=["endpoint", "member_key", "id"], name="webhook_order"),
        ]

    def __str__(self):
        return f"{self.event_id} -> {self.endpoint_id} ({self.status})"
