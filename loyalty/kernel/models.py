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


# --- the dashboard's rollups (see loyalty/console/rollup.py) ------------------------------------
# Small pre-aggregated facts the console's KPIs read instead of scanning the sales and the
# ledger. Rebuilt as a whole, set-based, by the rollup job; ids of stores, tiers and
# members are plain integers (a rollup never blocks deleting what it counts). Days are
# local days in the program's time zone; tier is the member's tier when the job ran.


class KpiRollupRun(models.Model):
    """One build of the rollups. The dashboard reads the rollups of the latest run while
    it is recent (settings.CARAT_KPI_ROLLUP_MAX_AGE), and the live queries otherwise."""

    as_of = models.DateTimeField(help_text="The rollups count what was committed by then.")
    seconds = models.DecimalField(max_digits=8, decimal_places=2)
    rows = models.JSONField(default=dict)

    class Meta:
        get_latest_by = "as_of"

    def __str__(self):
        return f"KPI rollup as of {self.as_of:%Y-%m-%d %H:%M}"


class KpiSalesDay(models.Model):
    """Sales per local day, store, channel and tier: count, orders (not fully returned),
    gross EUR and the EUR of their returns (a return counts on its sale's day)."""

    day = models.DateField()
    store_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=8)
    tier_id = models.IntegerField(null=True)
    sales = models.IntegerField()
    orders = models.IntegerField()
    gross_eur = models.DecimalField(max_digits=16, decimal_places=2)
    returns_eur = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["day"], name="kpisalesday_day")]

    def __str__(self):
        return f"{self.day} {self.channel} {self.store_id}/{self.tier_id}: {self.sales}"


class KpiActivity(models.Model):
    """Changes, on `day`, of the number of members active (an order in the 12 months
    before) and repeating (orders on two or more days in those 12 months): the KPIs for
    a period ending on day D are the sums of the changes up to D. `level` says which
    sales filters the row is for: '' none, 's' store, 'c' channel, 'sc' both."""

    level = models.CharField(max_length=2)
    day = models.DateField()
    store_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=8)
    tier_id = models.IntegerField(null=True)
    active = models.IntegerField()
    repeating = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["level", "day"], name="kpiactivity_level_day")]

    def __str__(self):
        return f"{self.level or '-'} {self.day}: {self.active:+d} / {self.repeating:+d}"


class KpiFirstOrder(models.Model):
    """A buyer's first order ever and the day of their second (on a later day), one row
    per store and channel of the orders placed at that first moment (`lead` marks one
    row per member)."""

    member_id = models.BigIntegerField()
    first_at = models.DateTimeField()
    first_day = models.DateField()
    store_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=8)
    lead = models.BooleanField()
    second_day = models.DateField(null=True)
    referred = models.BooleanField()
    tier_id = models.IntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["first_at"], name="kpifirstorder_first_at")]

    def __str__(self):
        return f"{self.member_id}: {self.first_day} -> {self.second_day}"


class KpiMembersDay(models.Model):
    """Members per local day of joining, current tier and whether they were referred."""

    day = models.DateField()
    tier_id = models.IntegerField(null=True)
    referred = models.BooleanField()
    members = models.IntegerField()

    def __str__(self):
        return f"{self.day} {self.tier_id}: {self.members}"


class KpiLedgerDay(models.Model):
    """Carats booked per local day (of `created_at`), kind and tier: credits and debits."""

    day = models.DateField()
    kind = models.CharField(max_length=16)
    tier_id = models.IntegerField(null=True)
    credit = models.BigIntegerField()
    debit = models.BigIntegerField()

    def __str__(self):
        return f"{self.day} {self.kind}: +{self.credit} {self.debit}"


class KpiCohort(models.Model):
    """Members who joined in `joined_month` and ordered in `order_month`, by the day from
    which they count (the later of their join day and their first order day in that
    month), so that a period ending mid-month counts only what happened before its end."""

    level = models.CharField(max_length=2)
    joined_month = models.DateField()
    order_month = models.DateField()
    day = models.DateField()
    store_id = models.IntegerField(null=True)
    channel = models.CharField(max_length=8)
    tier_id = models.IntegerField(null=True)
    members = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["level", "joined_month"], name="kpicohort_level_month")]

    def __str__(self):
        return f"{self.joined_month} -> {self.order_month}: {self.members}"
