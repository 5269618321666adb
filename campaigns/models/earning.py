"""Earning: bonus rules, action rules, what they awarded, carats held back."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns import recurrence
from loyalty.kernel.catalogs import catalog_unknown, split_codes
from members.models import Member
from tiers.models import Tier

from .crm import holdout_check, holdout_percent_field


class Period(models.TextChoices):
    DAY = "day", _("per day")
    WEEK = "week", _("per week")
    MONTH = "month", _("per month")
    YEAR = "year", _("per year")
    FOREVER = "forever", _("ever")


class Repeat(models.TextChoices):
    NONE = recurrence.NONE, _("every day between the start and the end")
    WEEKLY = recurrence.WEEKLY, _("every week, on the chosen days")
    MONTHLY = recurrence.MONTHLY, _("every month, on the n-th chosen weekday")
    YEARLY = recurrence.YEARLY, _("every year, on the same dates")


class MonthWeek(models.IntegerChoices):
    FIRST = 1, _("first")
    SECOND = 2, _("second")
    THIRD = 3, _("third")
    FOURTH = 4, _("fourth")
    LAST = recurrence.LAST, _("last")


WEEKDAYS = [
    ("0", _("Monday")),
    ("1", _("Tuesday")),
    ("2", _("Wednesday")),
    ("3", _("Thursday")),
    ("4", _("Friday")),
    ("5", _("Saturday")),
    ("6", _("Sunday")),
]

# The text fields of EarningRule that hold codes of a catalog (loyalty.kernel.catalogs),
# kept as text because every sale reads them.
RULE_CODE_FIELDS = {
    "store_codes": "store",
    "channels": "channel",
    "categories": "category",
    "skus": "sku",
}


def _codes(value: str) -> set[str]:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


class RuleBase(models.Model):
    name = models.CharField(
        _("internal name"), max_length=120, help_text=_("Seen in the console only.")
    )
    # What members read in their activity ("Double carats weekend"), never the internal name.
    member_label = models.CharField(
        _("label for members (English)"),
        max_length=120,
        blank=True,
        default="",
        help_text=_("What members read in their activity (empty: the line says no more)."),
    )
    member_label_nl = models.CharField(
        _("label for members (Dutch)"), max_length=120, blank=True, default=""
    )
    member_label_fr = models.CharField(
        _("label for members (French)"), max_length=120, blank=True, default=""
    )
    active = models.BooleanField(_("active"), default=True)
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    ends_at = models.DateTimeField(
        _("ends"), null=True, blank=True, help_text=_("Empty: runs until switched off.")
    )
    max_per_member = models.PositiveIntegerField(
        _("most carats per member"),
        null=True,
        blank=True,
        help_text=_("The carats one member can get from this rule per period (empty: no cap)."),
    )
    cap_period = models.CharField(
        _("per"), max_length=8, choices=Period.choices, default=Period.FOREVER
    )
    budget_carats = models.PositiveIntegerField(
        _("budget (carats)"),
        null=True,
        blank=True,
        help_text=_("The carats this rule may give out in all (empty: no budget)."),
    )
    carats_given = models.PositiveIntegerField(_("carats given"), default=0, editable=False)

    class Meta:
        abstract = True

    def __str__(self):
        return self.name

    def clean(self):
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The end must be after the start.")})


class EarningRule(RuleBase):
    """A bonus campaign on purchases: multiply and/or add carats when a sale matches.

    How rules combine: matching rules are applied by priority (lowest first, then id).
    Each adds its own extra on top of the base carats: (multiplier - 1) x the base carats
    of the matched amount, plus the fixed bonus. Extras add up (x2 and x3 on one sale give
    x4 in total). A rule with "stop further rules" ends the chain after itself.

    When: between the start and the end, and inside the recurring window if one is set
    (campaigns.recurrence: every weekend, the first Monday, a week each year)."""

    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Lower runs first.")
    )
    multiplier = models.DecimalField(
        _("multiply carats by"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(1)],
        help_text=_("2 gives double carats on what matches; 1 adds nothing."),
    )
    bonus_carats = models.PositiveIntegerField(
        _("extra carats"), default=0, help_text=_("A fixed number of carats added.")
    )
    stop_further = models.BooleanField(
        _("stop further rules"),
        default=False,
        help_text=_("Rules with a higher priority number do not apply after this one."),
    )
    repeat = models.CharField(
        _("repeats"), max_length=8, choices=Repeat.choices, default=Repeat.NONE, blank=True
    )
    weekdays = models.CharField(
        _("on"),
        max_length=13,
        blank=True,
        default="",
        help_text=_("For a weekly or monthly campaign."),
    )
    month_week = models.PositiveSmallIntegerField(
        _("which one in the month"),
        choices=MonthWeek.choices,
        null=True,
        blank=True,
        help_text=_("For a monthly campaign: e.g. the first Monday."),
    )
    yearly_from = models.DateField(
        _("each year from"),
        null=True,
        blank=True,
        help_text=_("For a yearly campaign: the day and month count, the year is ignored."),
    )
    yearly_until = models.DateField(
        _("each year until"),
        null=True,
        blank=True,
        help_text=_("Included. It may be after the new year (20 Dec - 6 Jan)."),
    )
    store_codes = models.CharField(
        _("stores"), max_length=200, blank=True, help_text=_("None chosen: every store.")
    )
    channels = models.CharField(
        _("channels"), max_length=60, blank=True, help_text=_("None chosen: every channel.")
    )
    tiers = models.ManyToManyField(
        Tier, blank=True, verbose_name=_("tiers"), help_text=_("None chosen: every tier.")
    )
    categories = models.CharField(
        _("product categories"),
        max_length=200,
        blank=True,
        help_text=_("Only these lines of the sale count; none: the whole sale."),
    )
    skus = models.CharField(
        _("products (SKU)"),
        max_length=500,
        blank=True,
        help_text=_("Only these lines of the sale count; none: the whole sale."),
    )
    min_amount_eur = models.DecimalField(
        _("minimum sale (EUR)"), max_digits=12, decimal_places=2, default=Decimal("0")
    )
    holdout_percent = holdout_percent_field()

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("bonus campaign")
        verbose_name_plural = _("bonus campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(multiplier__gt=1) | Q(bonus_carats__gt=0), name="earningrule_gives"
            ),
            holdout_check("earningrule_holdout_bounded"),
        ]

    def clean(self):
        super().clean()
        errors = {}
        for field_name, kind in RULE_CODE_FIELDS.items():
            codes = split_codes(getattr(self, field_name))
            unknown = catalog_unknown(kind, codes)
            if unknown:
                errors[field_name] = _("Not known: %(codes)s. Choose from the list.") % {
                    "codes": ", ".join(unknown)
                }
            else:
                setattr(self, field_name, ",".join(codes))
        errors.update(self._recurrence_errors())
        if errors:
            raise ValidationError(errors)

    def _recurrence_errors(self) -> dict:
        days = recurrence.weekday_set(self.weekdays)
        if self.repeat in (Repeat.WEEKLY, Repeat.MONTHLY) and not days:
            return {"weekdays": _("Choose at least one day.")}
        if self.repeat == Repeat.MONTHLY and not self.month_week:
            return {"month_week": _("Choose which one in the month (e.g. the first).")}
        if self.repeat == Repeat.YEARLY and not (self.yearly_from and self.yearly_until):
            return {"yearly_until": _("A yearly campaign needs both dates.")}
        return {}

    def recurs_at(self, at) -> bool:
        """Inside the recurring window (True without one); see campaigns.recurrence."""
        return recurrence.recurs_at(
            repeat=self.repeat,
            weekdays=self.weekdays,
            month_week=self.month_week,
            yearly_from=self.yearly_from,
            yearly_until=self.yearly_until,
            at=at,
        )

    def applies_at(self, at) -> bool:
        """The rule's window: start, end and recurrence (activity is checked apart)."""
        return (
            self.starts_at <= at
            and (self.ends_at is None or self.ends_at > at)
            and self.recurs_at(at)
        )

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
    SIGNUP = "signup", _("sign-up bonus")
    PROFILE_COMPLETED = "profile_completed", _("profile completed")
    SMS_OPT_IN = "sms_opt_in", _("SMS opt-in")
    REVIEW = "review", _("product review")
    REVIEW_PHOTO = "review_photo", _("product review with a photo")
    SOCIAL_FOLLOW = "social_follow", _("social media follow")
    REFERRAL_REFERRER = (
        "referral_referrer",
        _("referral: friend's first purchase (to the referrer)"),
    )
    REFERRAL_FRIEND = "referral_friend", _("referral: friend joined (to the friend)")
    UGC = "ugc", _("user-generated content")
    EVENT_ATTENDANCE = "event_attendance", _("brand event attendance")


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
        verbose_name = _("reward for an action")
        verbose_name_plural = _("rewards for actions")


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
        verbose_name = _("carats given by a rule")
        verbose_name_plural = _("carats given by rules")
        indexes = [
            models.Index(fields=["earning_rule", "member", "occurred_at"], name="award_earning"),
            models.Index(fields=["action_rule", "member", "occurred_at"], name="award_action"),
        ]

    def __str__(self):
        # "+312 carats — Weekend sparkle (store:antwerp:1042)"
        rule = self.earning_rule or self.action_rule
        return _("%(carats)s carats — %(rule)s (%(reference)s)") % {
            "carats": f"{self.carats:+}",
            "rule": rule.name if rule else "-",
            "reference": self.reference,
        }


class HeldCarats(models.Model):
    """Carats earned but not yet on the balance: held by the velocity check for review, or
    pending until the return window has passed."""

    class Status(models.TextChoices):
        HELD = "held", _("held for review")
        PENDING = "pending", _("pending (return window)")
        RELEASED = "released", _("released")
        REJECTED = "rejected", _("rejected")
        CANCELLED = "cancelled", _("cancelled by a return")

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
        verbose_name = _("held or pending carats")
        verbose_name_plural = _("held and pending carats")
        indexes = [models.Index(fields=["status", "release_at"], name="held_due")]

    def __str__(self):
        # "120 carats held for review — Purchase S1 at Carat Antwerp: ..."
        return _("%(carats)s carats %(status)s — %(reason)s") % {
            "carats": self.carats,
            "status": self.get_status_display(),
            "reason": self.reason,
        }
