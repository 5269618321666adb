"""CRM: segments, trigger and broadcast mails, the message log."""

from django.db import models
from django.utils import timezone

from campaigns.mailtext import validate_mail_text
from members.models import Member

from .rewards import Reward


class Segment(models.Model):
    """A group of members defined by conditions, without code. Evaluated live as one
    SQL query (see campaigns.segments)."""

    name = models.CharField(max_length=120, unique=True)
    match = models.CharField(
        max_length=3, choices=[("all", "all conditions"), ("any", "any condition")], default="all"
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class SegmentCondition(models.Model):
    class Field(models.TextChoices):
        TIER = "tier", "tier code is one of (comma-separated)"
        BALANCE_MIN = "balance_min", "carats balance at least"
        BALANCE_MAX = "balance_max", "carats balance at most"
        SPEND_MIN = "spend_min", "lifetime spend (EUR) at least"
        SPEND_MAX = "spend_max", "lifetime spend (EUR) at most"
        PURCHASES_MIN = "purchases_min", "purchases at least"
        PURCHASES_MAX = "purchases_max", "purchases at most"
        ONE_PURCHASE = "one_purchase", "first purchase but no second (value ignored)"
        NEVER_BOUGHT = "never_bought", "never bought (value ignored)"
        DAYS_SINCE_PURCHASE_MIN = "days_since_min", "days since last purchase at least"
        DAYS_SINCE_PURCHASE_MAX = "days_since_max", "days since last purchase at most"
        BIRTHDAY_WITHIN = "birthday_within", "birthday within N days"
        WEDDING_WITHIN = "wedding_within", "wedding anniversary within N days"
        JOINED_AFTER = "joined_after", "joined on or after (YYYY-MM-DD)"
        JOINED_BEFORE = "joined_before", "joined before (YYYY-MM-DD)"
        JOINED_WITHIN = "joined_within", "joined in the last N days"
        STORE = "store", "bought in store (store codes, comma-separated)"
        CHANNEL = "channel", "bought through channel (store, online, import)"
        COUNTRY = "country", "country is one of (ISO codes)"
        LANGUAGE = "language", "language is one of (en, nl, fr)"
        EMAIL_CONSENT = "email_consent", "e-mail consent (yes/no)"
        SMS_CONSENT = "sms_consent", "SMS consent (yes/no)"
        CLUB = "club", "active member of club (club name)"
        AMBASSADOR = "ambassador", "on an invite-only tier (yes/no)"
        # The catalog and the thank-you questionnaire (campaigns.segments_catalog).
        BOUGHT_CATEGORY = (
            "bought_category",
            "bought in category (codes, comma-separated; rings:90 = in the last 90 days)",
        )
        NEVER_CATEGORY = "never_category", "never bought in category (codes, comma-separated)"
        BOUGHT_SKU = "bought_sku", "bought SKU (comma-separated)"
        PREFERS_METAL = "prefers_metal", "questionnaire: prefers metal (e.g. white_gold)"
        PREFERS_STONE = "prefers_stone", "questionnaire: prefers stones (e.g. diamond)"
        PREFERS_STYLE = "prefers_style", "questionnaire: style (classic, modern, vintage, minimal)"
        GIFT_BUYER = "gift_buyer", "questionnaire: bought as a gift (yes/no)"

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="conditions")
    field = models.CharField(max_length=20, choices=Field.choices)
    value = models.CharField(max_length=200, blank=True)
    negate = models.BooleanField(default=False, help_text="Members who do NOT match.")

    def __str__(self):
        return f"{'not ' if self.negate else ''}{self.get_field_display()} {self.value}"


class Trigger(models.TextChoices):
    WELCOME = "welcome", "welcome (the day after joining)"
    ANNIVERSARY = "anniversary", "anniversary of joining"
    THANK_YOU = "thank_you", "thank you for your purchase (the day after)"
    SERVICE_GUARANTEE = "service_guarantee", "service guarantee bought"
    CART_ABANDONED = "cart_abandoned", "basket left in the web shop"
    WIN_BACK = "win_back", "win-back after N days without purchase"
    BIRTHDAY_SOON = "birthday_soon", "birthday in 7 days"
    BIRTHDAY = "birthday", "birthday (on the day)"
    WEDDING = "wedding", "wedding anniversary (start of its month)"
    TIER_UPGRADED = "tier_upgraded", "tier upgraded"
    TIER_AT_RISK = "tier_at_risk", "tier about to be lost"
    CARATS_EXPIRING = "carats_expiring", "carats about to expire"
    CLUB_RENEWAL = "club_renewal", "club membership ends soon"
    BROADCAST = "broadcast", "broadcast"


class MailTexts(models.Model):
    """Subject and body per member language (English is the fallback)."""

    # Every field here is staff-written and rendered by campaigns.mailtext (the sandbox):
    # the validator refuses anything but its documented variables.
    subject_en = models.CharField(max_length=200, validators=[validate_mail_text])
    body_en = models.TextField(validators=[validate_mail_text])
    subject_nl = models.CharField(max_length=200, blank=True, validators=[validate_mail_text])
    body_nl = models.TextField(blank=True, validators=[validate_mail_text])
    subject_fr = models.CharField(max_length=200, blank=True, validators=[validate_mail_text])
    body_fr = models.TextField(blank=True, validators=[validate_mail_text])

    TEXT_FIELDS = ("subject_en", "body_en", "subject_nl", "body_nl", "subject_fr", "body_fr")

    class Meta:
        abstract = True

    def texts(self, language: str) -> tuple[str, str]:
        subject = getattr(self, f"subject_{language}", "") or self.subject_en
        body = getattr(self, f"body_{language}", "") or self.body_en
        return subject, body


class TriggerConfig(MailTexts):
    """A trigger e-mail as marketing configures it. Subjects and bodies are plain text with
    the variables of campaigns.mailtext ({{ first_name }}, {{ tier }}, {{ gift }}, ...)."""

    trigger = models.CharField(max_length=20, choices=Trigger.choices, unique=True)
    enabled = models.BooleanField(default=True)
    marketing = models.BooleanField(
        default=True,
        help_text="Marketing mails need consent and count towards the weekly cap; "
        "service mails (expiry, club renewal) do not.",
    )
    priority = models.PositiveSmallIntegerField(default=50, help_text="Lower wins the weekly cap.")
    offset_days = models.PositiveSmallIntegerField(
        default=1,
        help_text="Days after the event (welcome, thank you), before it (birthday soon), "
        "without purchase (win-back, 180), or the basket delay in hours x 24.",
    )
    gift_carats = models.PositiveIntegerField(default=0)
    gift_reward = models.ForeignKey(
        Reward, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    segment = models.ForeignKey(
        Segment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Only members of this segment (optional).",
    )

    class Meta:
        ordering = ["priority", "trigger"]
        verbose_name = "trigger e-mail"

    def __str__(self):
        return self.get_trigger_display()

    @property
    def has_gift(self) -> bool:
        return bool(self.gift_carats or self.gift_reward_id)


class Broadcast(MailTexts):
    """A one-off mail to a segment at a chosen time."""

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        SCHEDULED = "scheduled", "scheduled"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"

    name = models.CharField(max_length=120)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    recipients = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name


class MessageLog(models.Model):
    """One row per member, trigger and occasion: the claim that makes every trigger
    e-mail go out at most once, and the record of what was sent, opened and clicked."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "scheduled"
        QUEUED = "queued", "queued"
        SENT = "sent", "sent"
        SKIPPED = "skipped", "skipped (no consent)"
        CAPPED = "capped", "skipped (weekly cap)"
        CANCELLED = "cancelled", "cancelled"
        FAILED = "failed", "failed"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="messages")
    trigger = models.CharField(max_length=32)
    occasion = models.CharField(max_length=64)
    broadcast = models.ForeignKey(
        Broadcast, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    marketing = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(default=50)
    due_at = models.DateTimeField(null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was queued or taken by a worker."
    )
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "trigger", "occasion"], name="message_once_per_occasion"
            )
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="message_due"),
            models.Index(fields=["member", "sent_at"], name="message_member_sent"),
            models.Index(fields=["trigger", "sent_at"], name="message_trigger_sent"),
            models.Index(fields=["status", "sent_at"], name="message_status_sent"),
        ]

    def __str__(self):
        return f"{self.trigger} {self.occasion} to {self.member_id}"
