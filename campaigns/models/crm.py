"""CRM: segments, trigger and broadcast mails, the message log."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.experiments import MAX_HOLDOUT_PERCENT
from campaigns.mailtext import validate_mail_text
from members.models import Member

from .rewards import Reward


class Segment(models.Model):
    """A group of members defined by conditions, without code. Evaluated live as one
    SQL query (see campaigns.segments).

    The conditions are in groups: a member is in the segment when they meet every
    condition of at least one group (the conditions of a group joined by AND, the groups
    by OR)."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self):
        return self.name


class SegmentCondition(models.Model):
    class Field(models.TextChoices):
        TIER = "tier", _("tier is one of")
        BALANCE_MIN = "balance_min", _("carats balance at least")
        BALANCE_MAX = "balance_max", _("carats balance at most")
        SPEND_MIN = "spend_min", _("lifetime spend (EUR) at least")
        SPEND_MAX = "spend_max", _("lifetime spend (EUR) at most")
        PURCHASES_MIN = "purchases_min", _("purchases at least")
        PURCHASES_MAX = "purchases_max", _("purchases at most")
        ONE_PURCHASE = "one_purchase", _("bought once, not twice")
        NEVER_BOUGHT = "never_bought", _("never bought")
        DAYS_SINCE_PURCHASE_MIN = "days_since_min", _("days since the last purchase at least")
        DAYS_SINCE_PURCHASE_MAX = "days_since_max", _("days since the last purchase at most")
        BIRTHDAY_WITHIN = "birthday_within", _("birthday within (days)")
        WEDDING_WITHIN = "wedding_within", _("wedding anniversary within (days)")
        JOINED_AFTER = "joined_after", _("joined on or after")
        JOINED_BEFORE = "joined_before", _("joined before")
        JOINED_WITHIN = "joined_within", _("joined in the last (days)")
        STORE = "store", _("bought in one of the stores")
        CHANNEL = "channel", _("bought through one of the channels")
        COUNTRY = "country", _("country is one of (ISO codes)")
        LANGUAGE = "language", _("language is one of")
        EMAIL_CONSENT = "email_consent", _("agreed to marketing e-mails")
        SMS_CONSENT = "sms_consent", _("agreed to text messages")
        CLUB = "club", _("active member of the club")
        AMBASSADOR = "ambassador", _("on an invite-only tier")
        # The nightly predictions (members.predictions); members who never bought have
        # none and match neither way.
        P_ALIVE_MAX = "p_alive_max", _("chance still active at most (%)")
        P_ALIVE_MIN = "p_alive_min", _("chance still active at least (%)")
        CLV_MIN = "clv_min", _("expected spend next 12 months at least (EUR)")
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
    group = models.PositiveSmallIntegerField(
        _("group"),
        default=0,
        help_text=_("Conditions of one group must all be met; a member meets one group."),
    )
    field = models.CharField(_("condition"), max_length=20, choices=Field.choices)
    value = models.CharField(_("value"), max_length=200, blank=True)
    negate = models.BooleanField(_("not"), default=False, help_text=_("Members who do NOT match."))

    class Meta:
        ordering = ["group", "id"]
        verbose_name = _("segment condition")
        verbose_name_plural = _("segment conditions")

    def __str__(self):
        prefix = _("not") + " " if self.negate else ""
        return f"{prefix}{self.get_field_display()} {self.value}".strip()


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


def validate_blocks(value) -> None:
    """The content blocks of a mail: an ordered list of known block names, each once,
    with the written message among them."""
    from django.core.exceptions import ValidationError

    from campaigns.mail.blocks import BLOCKS

    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("A list of block names.", code="blocks")
    unknown = [v for v in value if v not in BLOCKS]
    if unknown:
        raise ValidationError(f"Unknown blocks: {', '.join(unknown)}.", code="blocks")
    if len(set(value)) != len(value):
        raise ValidationError("Each block at most once.", code="blocks")
    if "message" not in value:
        raise ValidationError("The written message must stay in the mail.", code="blocks")


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

    blocks = models.JSONField(
        null=True,
        blank=True,
        validators=[validate_blocks],
        help_text="The content blocks, in order (empty: the trigger's default blocks).",
    )

    TEXT_FIELDS = ("subject_en", "body_en", "subject_nl", "body_nl", "subject_fr", "body_fr")

    class Meta:
        abstract = True

    def mail_language(self, language: str) -> str:
        """The language the whole mail is written in for a member of `language`: theirs
        when this mail has a body in it, else English (the fallback) — body, subject,
        blocks and footer all in that one language."""
        if language != "en" and (getattr(self, f"body_{language}", "") or "").strip():
            return language
        return "en"

    def texts(self, language: str) -> tuple[str, str]:
        """(subject, body) as written for `language` (see mail_language): never one
        language's subject with another's body."""
        language = self.mail_language(language)
        subject = getattr(self, f"subject_{language}", "") or self.subject_en
        body = getattr(self, f"body_{language}", "") or self.body_en
        return subject, body


def holdout_percent_field():
    """The control share of an experiment (trigger, broadcast, bonus rule, challenge):
    whole percents, 0 (no control group) to 50, bounded in the form and in the database."""
    return models.PositiveSmallIntegerField(
        _("control group (%)"),
        default=0,
        validators=[MaxValueValidator(MAX_HOLDOUT_PERCENT)],
        help_text=_(
            "Share of members (0-50 %) who are held out and get nothing, chosen at random "
            "but stable per member, to measure what this really causes (see the uplift report)."
        ),
    )


def holdout_check(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(holdout_percent__lte=MAX_HOLDOUT_PERCENT), name=name
    )


class VariantTest(models.Model):
    """An A/B test of a mail's subject and body (MailVariant rows): an even, stable split,
    and optionally an automatic winner after N days that every later send uses."""

    class WinnerBy(models.TextChoices):
        CLICKS = "clicks", _("clicks per mail sent")
        PURCHASES = "purchases", _("purchases per mail sent")

    winner_after_days = models.PositiveSmallIntegerField(
        _("choose the winner after (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text=_("Empty: no automatic winner (1-90 days after the first variant was sent)."),
    )
    winner_by = models.CharField(
        _("winner by"), max_length=10, choices=WinnerBy.choices, default=WinnerBy.CLICKS
    )
    winner = models.ForeignKey(
        "campaigns.MailVariant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("winning variant"),
        help_text=_("Set: every mail from now on uses this variant."),
    )
    winner_chosen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True


class TriggerConfig(MailTexts, VariantTest):
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
    holdout_percent = holdout_percent_field()
    p_alive_below = models.PositiveSmallIntegerField(
        _("when the chance still active falls below (%)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text=_(
            "Win-back only: send as soon as the nightly prediction says the member is less "
            "likely than this to still be buying, or after the days set above, whichever comes "
            "first. Once per last purchase."
        ),
    )

    class Meta:
        ordering = ["priority", "trigger"]
        verbose_name = "trigger e-mail"
        constraints = [holdout_check("trigger_holdout_bounded")]

    def __str__(self):
        return self.get_trigger_display()

    @property
    def has_gift(self) -> bool:
        return bool(self.gift_carats or self.gift_reward_id)


class Broadcast(MailTexts, VariantTest):
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
    holdout_percent = holdout_percent_field()

    class Meta:
        ordering = ["-created_at"]
        constraints = [holdout_check("broadcast_holdout_bounded")]

    def __str__(self):
        return self.name


class MailVariant(MailTexts):
    """One variant of a trigger's or a broadcast's subject and body (2-4 per mail), texts
    per language like the mail's own, through the same sandbox."""

    trigger = models.ForeignKey(
        TriggerConfig, null=True, blank=True, on_delete=models.CASCADE, related_name="variants"
    )
    broadcast = models.ForeignKey(
        Broadcast, null=True, blank=True, on_delete=models.CASCADE, related_name="variants"
    )
    name = models.CharField(_("name"), max_length=40, help_text=_("e.g. A, B, short subject"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("mail variant")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(trigger__isnull=True, broadcast__isnull=False)
                | models.Q(trigger__isnull=False, broadcast__isnull=True),
                name="variant_of_one_mail",
            )
        ]

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
        HELD_OUT = "held_out", _("held out (control group)")
        SUPPRESSED = "suppressed", "skipped (address undeliverable)"

    class Delivery(models.TextChoices):
        DELIVERED = "delivered", "delivered"
        BOUNCED = "bounced", "bounced"
        COMPLAINED = "complained", "complained (marked as spam)"

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
    variant = models.ForeignKey(
        MailVariant, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # What the mail provider reported (django-anymail's tracking webhook).
    # Database defaults: the set-based selection inserts rows with raw SQL.
    esp_message_id = models.CharField(max_length=255, blank=True, default="", db_default="")
    delivery = models.CharField(
        max_length=10, choices=Delivery.choices, blank=True, default="", db_default=""
    )
    delivery_at = models.DateTimeField(null=True, blank=True)

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
            models.Index(
                fields=["esp_message_id"],
                name="message_esp_id",
                condition=~models.Q(esp_message_id=""),
            ),
        ]

    def __str__(self):
        return f"{self.trigger} {self.occasion} to {self.member_id}"
