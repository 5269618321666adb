from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from members.models import Member
from tiers.models import Tier

from campaigns.mailtext import validate_mail_text


class Program(models.Model):
    """The loyalty program's base settings (one row)."""

    name = models.CharField(max_length=80, default="Diamond Club")
    points_name = models.CharField(max_length=32, default="carats")
    carats_per_eur = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(0)],
        help_text="Base earning rule: carats per 1 EUR spent (before the tier multiplier).",
    )
    max_store_sales_per_day = models.PositiveSmallIntegerField(
        default=0,
        help_text="Velocity check: a member's store sales beyond this many in one day are "
        "held for review instead of awarded (0 = off).",
    )
    birthday_carats = models.PositiveIntegerField(
        default=0, help_text="Birthday surprise in carats (0 = none)."
    )
    birthday_reward = models.ForeignKey(
        "Reward",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Or a reward voucher as the birthday surprise.",
    )
    expiry_policy = models.CharField(
        max_length=12,
        default="none",
        choices=[
            ("none", "carats never expire"),
            ("earned", "N months after earning (oldest spent first)"),
            ("inactivity", "after N months without activity"),
        ],
    )
    expiry_months = models.PositiveSmallIntegerField(default=24)
    expiry_warning_days = models.PositiveSmallIntegerField(default=30)
    weekly_mail_cap = models.PositiveSmallIntegerField(
        default=2, help_text="At most this many marketing mails per member per 7 days."
    )
    pending_days = models.PositiveSmallIntegerField(
        default=0,
        help_text="Carats from sales become spendable after this many days (the return "
        "window); a return inside it cancels them (0 = at once).",
    )

    class Meta:
        verbose_name = "program settings"
        verbose_name_plural = "program settings"

    def __str__(self):
        return self.name


class Period(models.TextChoices):
    DAY = "day", "per day"
    WEEK = "week", "per week"
    MONTH = "month", "per month"
    YEAR = "year", "per year"
    FOREVER = "forever", "ever"


def _codes(value: str) -> set[str]:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


class RuleBase(models.Model):
    name = models.CharField(max_length=120)
    active = models.BooleanField(default=True)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty = open-ended.")
    max_per_member = models.PositiveIntegerField(
        null=True, blank=True, help_text="Cap: carats one member can get from this rule per period."
    )
    cap_period = models.CharField(max_length=8, choices=Period.choices, default=Period.FOREVER)
    budget_carats = models.PositiveIntegerField(
        null=True, blank=True, help_text="Cap: total carats this rule may give out."
    )
    carats_given = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        abstract = True

    def __str__(self):
        return self.name

    def clean(self):
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The end must be after the start."})


class EarningRule(RuleBase):
    """A bonus campaign on purchases: multiply and/or add carats when a sale matches.

    How rules combine: matching rules are applied by priority (lowest first, then id).
    Each adds its own extra on top of the base carats: (multiplier - 1) x the base carats
    of the matched amount, plus the fixed bonus. Extras add up (x2 and x3 on one sale give
    x4 in total). A rule with "stop further rules" ends the chain after itself."""

    priority = models.PositiveSmallIntegerField(default=100)
    multiplier = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("1"), validators=[MinValueValidator(1)]
    )
    bonus_carats = models.PositiveIntegerField(default=0, help_text="Fixed carats added.")
    stop_further = models.BooleanField(default=False, help_text="Stop further rules.")
    store_codes = models.CharField(
        max_length=200, blank=True, help_text="Comma-separated; empty = all."
    )
    channels = models.CharField(max_length=60, blank=True, help_text="store, online; empty = all.")
    tiers = models.ManyToManyField(Tier, blank=True, help_text="Empty = all tiers.")
    categories = models.CharField(
        max_length=200, blank=True, help_text="Line categories; empty = all."
    )
    skus = models.CharField(max_length=500, blank=True, help_text="Line SKUs; empty = all.")
    min_amount_eur = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(multiplier__gt=1) | Q(bonus_carats__gt=0), name="earningrule_gives"
            ),
        ]

    @property
    def line_filtered(self) -> bool:
        return bool(self.categories.strip() or self.skus.strip())

    def matches_line(self, line: dict) -> bool:
        cats, skus = _codes(self.categories), _codes(self.skus)
        return (not cats or line.get("category", "").lower() in cats) and (
            not skus or line.get("sku", "").lower() in skus
        )

    def matches_sale(self, *, store_code, channel, tier_id, tier_ids, amount_eur) -> bool:
        stores, channels = _codes(self.store_codes), _codes(self.channels)
        return (
            (not stores or (store_code or "").lower() in stores)
            and (not channels or channel in channels)
            and (not tier_ids or tier_id in tier_ids)
            and amount_eur >= self.min_amount_eur
        )


class ActionType(models.TextChoices):
    SIGNUP = "signup", "sign-up bonus"
    PROFILE_COMPLETED = "profile_completed", "profile completed"
    SMS_OPT_IN = "sms_opt_in", "SMS opt-in"
    REVIEW = "review", "product review"
    REVIEW_PHOTO = "review_photo", "product review with a photo"
    SOCIAL_FOLLOW = "social_follow", "social media follow"
    REFERRAL_REFERRER = "referral_referrer", "referral: friend's first purchase (to the referrer)"
    REFERRAL_FRIEND = "referral_friend", "referral: friend joined (to the friend)"
    UGC = "ugc", "user-generated content"
    EVENT_ATTENDANCE = "event_attendance", "brand event attendance"


class ActionRule(RuleBase):
    """Carats for an action beyond purchases (advocacy, profile). One active rule per type
    at a time is used (the newest start)."""

    action = models.CharField(max_length=24, choices=ActionType.choices)
    carats = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    once_per_reference = models.BooleanField(
        default=True,
        help_text="One reward per member and reference (e.g. one review reward per product).",
    )

    class Meta:
        ordering = ["action", "-starts_at"]


class Award(models.Model):
    """What a rule gave to whom, for caps, budgets and explanations."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="awards")
    earning_rule = models.ForeignKey(
        EarningRule, null=True, blank=True, on_delete=models.PROTECT, related_name="awards"
    )
    action_rule = models.ForeignKey(
        ActionRule, null=True, blank=True, on_delete=models.PROTECT, related_name="awards"
    )
    carats = models.IntegerField()
    reference = models.CharField(max_length=120)
    unique_reference = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="Set when the rule rewards a reference once per member.",
    )
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["earning_rule", "member", "occurred_at"], name="award_earning"),
            models.Index(fields=["action_rule", "member", "occurred_at"], name="award_action"),
        ]

    def __str__(self):
        return f"{self.carats} to {self.member_id} ({self.reference})"


class HeldCarats(models.Model):
    """Carats earned but not yet on the balance: held by the velocity check for review, or
    pending until the return window has passed."""

    class Status(models.TextChoices):
        HELD = "held", "held for review"
        PENDING = "pending", "pending (return window)"
        RELEASED = "released", "released"
        REJECTED = "rejected", "rejected"
        CANCELLED = "cancelled", "cancelled by a return"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="held_carats")
    carats = models.PositiveIntegerField()
    reason = models.CharField(max_length=255)
    key = models.CharField(max_length=128, unique=True, help_text="The ledger key on release.")
    occurred_at = models.DateTimeField(help_text="The sale's time (counts for tiers).")
    status = models.CharField(max_length=10, choices=Status.choices)
    release_at = models.DateTimeField(null=True, blank=True, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "held and pending carats"
        indexes = [models.Index(fields=["status", "release_at"], name="held_due")]

    def __str__(self):
        return f"{self.carats} {self.status} for {self.member_id}"


class Reward(models.Model):
    """An item of the rewards catalog, bought with carats; issues a voucher."""

    class Kind(models.TextChoices):
        AMOUNT = "amount", "amount off (EUR)"
        PERCENT = "percent", "percent off"
        PRODUCT = "product", "free product"
        EXPERIENCE = "experience", "experience (VIP event, rental, ...)"

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    cost_carats = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    value = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        help_text="EUR for an amount voucher, percent for a percent voucher.",
    )
    sku = models.CharField(max_length=64, blank=True, help_text="For a free product.")
    tiers = models.ManyToManyField(
        Tier,
        blank=True,
        help_text="Visible to these tiers only; empty = every public tier. A reward for a "
        "hidden tier only is invite-only.",
    )
    active = models.BooleanField(default=True)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    stock = models.PositiveIntegerField(null=True, blank=True, help_text="Empty = unlimited.")
    issued_count = models.PositiveIntegerField(default=0, editable=False)
    per_member_limit = models.PositiveIntegerField(null=True, blank=True)
    voucher_valid_days = models.PositiveIntegerField(default=90)

    class Meta:
        ordering = ["cost_carats", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(issued_count__lte=models.F("stock")),
                name="reward_not_oversold",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.cost_carats} carats)"

    @property
    def in_stock(self) -> bool:
        """Whether one more can be issued (the redemption's conditional UPDATE decides)."""
        return self.stock is None or self.issued_count < self.stock


class Voucher(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", "issued"
        USED = "used", "used"
        CANCELLED = "cancelled", "cancelled"

    code = models.CharField(max_length=16, unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="vouchers")
    reward = models.ForeignKey(
        Reward, null=True, blank=True, on_delete=models.PROTECT, related_name="vouchers"
    )
    title = models.CharField(max_length=120)
    kind = models.CharField(max_length=12, choices=Reward.Kind.choices)
    value = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    cost_carats = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=16, default="redemption")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED)
    request_key = models.CharField(max_length=128, null=True, blank=True, unique=True)
    issued_at = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_where = models.CharField(max_length=64, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["member", "status"], name="voucher_member_status"),
            models.Index(fields=["issued_at"], name="voucher_issued"),
        ]

    def __str__(self):
        return f"{self.code} {self.title}"


class Club(models.Model):
    """A special-interest club bought with carats for a period (e.g. 2,000 for a year)."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    perks = models.TextField(blank=True, help_text="One perk per line.")
    cost_carats = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    duration_days = models.PositiveIntegerField(default=365)
    active = models.BooleanField(default=True)
    tiers = models.ManyToManyField(Tier, blank=True, help_text="Empty = every public tier.")

    def __str__(self):
        return self.name


class ClubMembership(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="club_memberships")
    club = models.ForeignKey(Club, on_delete=models.PROTECT, related_name="memberships")
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField(db_index=True)
    carats_paid = models.PositiveIntegerField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-ends_at"]

    def __str__(self):
        return f"{self.member_id} in {self.club_id} until {self.ends_at:%Y-%m-%d}"

    @property
    def is_active(self) -> bool:
        return self.ends_at > timezone.now()


class BirthdayGift(models.Model):
    """The claim that a member got this year's birthday gift (at most one per year)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="birthday_gifts")
    year = models.PositiveSmallIntegerField()
    carats = models.PositiveIntegerField(default=0)
    voucher = models.ForeignKey(Voucher, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "year"], name="birthday_once_a_year")
        ]

    def __str__(self):
        return f"{self.member_id} {self.year}"


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


class Giveaway(models.Model):
    """A giveaway hosted by an ambassador; each earns them a free piece (recorded here)."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="giveaways")
    title = models.CharField(max_length=120)
    hosted_on = models.DateField()
    channel = models.CharField(max_length=60, blank=True, help_text="e.g. Instagram")
    free_piece = models.CharField(max_length=120, help_text="The piece given to the host.")
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-hosted_on"]

    def __str__(self):
        return f"{self.title} ({self.hosted_on})"


class Rental(models.Model):
    """A piece lent to an ambassador for a brand event."""

    class Status(models.TextChoices):
        BOOKED = "booked", "booked"
        OUT = "out", "with the ambassador"
        RETURNED = "returned", "returned"
        CANCELLED = "cancelled", "cancelled"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="rentals")
    piece = models.CharField(max_length=120)
    sku = models.CharField(max_length=64, blank=True)
    event = models.CharField(max_length=120)
    starts_on = models.DateField()
    ends_on = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="rental_dates_ordered"
            )
        ]

    def __str__(self):
        return f"{self.piece} for {self.event}"


class Challenge(models.Model):
    """A goal with a deadline that pulls a member back (e.g. 'Second sparkle': a second
    purchase within 90 days of the first earns double carats)."""

    class Goal(models.TextChoices):
        SECOND_PURCHASE = "second_purchase", "make another purchase"
        SPEND = "spend", "spend an amount (EUR)"
        NEW_CATEGORY = "new_category", "buy in another category"
        OTHER_CHANNEL = (
            "other_channel",
            "buy in the other channel (store after online or the reverse)",
        )
        PROFILE = "profile", "complete the profile"
        REFERRAL = "referral", "refer a friend who buys"

    class Enrolment(models.TextChoices):
        FIRST_PURCHASE = "first_purchase", "automatically at the first purchase"
        SEGMENT = "segment", "members of a segment (at their next purchase or profile change)"
        TIER = "tier", "members of the chosen tiers"

    name = models.CharField(max_length=120)
    description = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    goal = models.CharField(max_length=16, choices=Goal.choices)
    goal_amount = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), help_text="For 'spend'."
    )
    enrolment = models.CharField(max_length=16, choices=Enrolment.choices)
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.SET_NULL)
    tiers = models.ManyToManyField(Tier, blank=True)
    window_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days from enrolment; or use fixed dates."
    )
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    reward_multiplier = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("1"),
        help_text="Multiplies the carats of the purchase that completes the challenge.",
    )
    reward_carats = models.PositiveIntegerField(default=0)
    reward_voucher = models.ForeignKey(
        Reward, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    badge = models.CharField(max_length=60, blank=True, help_text="Badge earned on completion.")
    budget_carats = models.PositiveIntegerField(null=True, blank=True)
    carats_given = models.PositiveIntegerField(default=0, editable=False)

    def __str__(self):
        return self.name


class ChallengeEnrolment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "in progress"
        COMPLETED = "completed", "completed"
        EXPIRED = "expired", "expired"

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="enrolments")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="challenges")
    enrolled_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    progress = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    baseline = models.JSONField(
        default=dict, help_text="What counted at enrolment (channel, categories)."
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.CharField(max_length=100, blank=True, help_text="The purchase key.")
    carats_given = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["challenge", "member"], name="challenge_once_per_member"
            )
        ]
        indexes = [models.Index(fields=["member", "status"], name="challenge_member_status")]

    def __str__(self):
        return f"{self.member_id} in {self.challenge_id} ({self.status})"


class Badge(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="badges")
    name = models.CharField(max_length=60)
    challenge = models.ForeignKey(
        Challenge, null=True, blank=True, on_delete=models.SET_NULL, related_name="badges_awarded"
    )
    earned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "challenge"], name="badge_once_per_challenge")
        ]

    def __str__(self):
        return self.name
