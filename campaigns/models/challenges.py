"""Challenges, their enrolments and badges."""

from decimal import Decimal

from django.db import models
from django.utils import timezone

from members.models import Member
from tiers.models import Tier

from .crm import Segment, holdout_check, holdout_percent_field
from .rewards import Reward


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
    name_nl = models.CharField(max_length=120, blank=True, default="")
    name_fr = models.CharField(max_length=120, blank=True, default="")
    description = models.CharField(max_length=255, blank=True)
    description_nl = models.CharField(max_length=255, blank=True, default="")
    description_fr = models.CharField(max_length=255, blank=True, default="")
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
    holdout_percent = holdout_percent_field()

    class Meta:
        constraints = [holdout_check("challenge_holdout_bounded")]

    def __str__(self):
        return self.name


class ChallengeEnrolment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "in progress"
        COMPLETED = "completed", "completed"
        EXPIRED = "expired", "expired"
        HELD_OUT = "held_out", "held out (control group: not enrolled)"

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
