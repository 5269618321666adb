"""Earning: bonus rules, action rules, what they awarded, carats held back."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from members.models import Member
from tiers.models import Tier

from .crm import holdout_check, holdout_percent_field


class Period(models.TextChoices):
    DAY = "day", "per day"
    WEEK = "week", "per week"
    MONTH = "month", "per month"
    YEAR = "year", "per year"
    FOREVER = "forever", "ever"


def _codes(value: str) -> set[str]:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


class RuleBase(models.Model):
    name = models.CharField(max_length=120, help_text="Internal: the console's name.")
    # What members read in their activity ("Double carats weekend"), never the internal name.
    member_label = models.CharField(
        max_length=120, blank=True, default="", help_text="What members read (empty: nothing)."
    )
    member_label_nl = models.CharField(max_length=120, blank=True, default="")
    member_label_fr = models.CharField(max_length=120, blank=True, default="")
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
    holdout_percent = holdout_percent_field()

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(multiplier__gt=1) | Q(bonus_carats__gt=0), name="earningrule_gives"
            ),
            holdout_check("earningrule_holdout_bounded"),
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
    held_out = models.BooleanField(
        default=False,
        help_text="The member is in the rule's control group: this row records that the "
        "rule matched and gave nothing (0 carats), once per member.",
    )

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
