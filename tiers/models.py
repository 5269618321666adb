from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from members.models import Member


class Tier(models.Model):
    """A status level. Public tiers are reached by qualifying carats; invite-only tiers
    (the hidden Ambassador) only by marketing's decision."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    name_nl = models.CharField(max_length=64, blank=True, default="")
    name_fr = models.CharField(max_length=64, blank=True, default="")
    rank = models.PositiveSmallIntegerField(unique=True, help_text="Higher is better.")
    threshold = models.PositiveIntegerField(
        default=0, help_text="Qualifying carats over 12 months needed to reach this tier."
    )
    discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    earn_multiplier = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(0)],
        help_text="Carats per EUR are multiplied by this.",
    )
    public = models.BooleanField(default=True, help_text="Shown to members and clients.")
    invite_only = models.BooleanField(
        default=False, help_text="Never reached or lost automatically; marketing assigns it."
    )
    color = models.CharField(max_length=7, default="#8a8a8a")
    benefits = models.TextField(blank=True, help_text="One benefit per line.")
    benefits_nl = models.TextField(blank=True)
    benefits_fr = models.TextField(blank=True)

    class Meta:
        ordering = ["rank"]

    def __str__(self):
        return self.name


class MemberTier(models.Model):
    """A member's current status. One row per member, written only by tiers.services."""

    member = models.OneToOneField(
        Member, on_delete=models.CASCADE, primary_key=True, related_name="status"
    )
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="members")
    reached_at = models.DateTimeField(default=timezone.now)
    hold_until = models.DateTimeField(
        help_text="No automatic downgrade before this time (12 months after reaching)."
    )

    class Meta:
        verbose_name = "member tier"
        indexes = [
            # The nightly evaluation joins every status to the 12-month sums in member
            # order: with the tier and the hold in the index, an index-only scan (a third
            # of the primary key scan's time at a million members, measured in bench).
            # PostgreSQL only (covering indexes); elsewhere no index is made.
            models.Index(
                fields=["member"], include=["tier", "hold_until"], name="membertier_cover"
            ),
        ]

    def __str__(self):
        return f"{self.member_id}: {self.tier_id}"


class TierChange(models.Model):
    class Reason(models.TextChoices):
        JOINED = "joined", "joined"
        UPGRADE = "upgrade", "upgrade"
        DOWNGRADE = "downgrade", "downgrade"
        INVITED = "invited", "invited"
        REVOKED = "revoked", "revoked"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["member", "-changed_at"], name="tierchange_member")]

    def __str__(self):
        return f"{self.member_id}: {self.from_tier_id} -> {self.to_tier_id} ({self.reason})"


class Invitation(models.Model):
    """An invitation to an invite-only tier: a one-time link e-mailed to the member;
    accepting it assigns the tier."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tier_invitations")
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    token = models.CharField(max_length=64, unique=True)
    note = models.CharField(max_length=255)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.tier_id} for {self.member_id}"
