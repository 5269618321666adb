from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member


class Tier(models.Model):
    """A status level. Public tiers are reached by qualifying carats; invite-only tiers
    (the hidden Ambassador) only by marketing's decision."""

    code = models.SlugField(verbose_name=_("code"), max_length=32, unique=True)
    name = models.CharField(verbose_name=_("name"), max_length=64)
    name_nl = models.CharField(
        verbose_name=_("name (Dutch)"), max_length=64, blank=True, default=""
    )
    name_fr = models.CharField(
        verbose_name=_("name (French)"), max_length=64, blank=True, default=""
    )
    rank = models.PositiveSmallIntegerField(
        verbose_name=_("rank"), unique=True, help_text="Higher is better."
    )
    threshold = models.PositiveIntegerField(
        verbose_name=_("threshold (qualifying carats)"),
        default=0,
        help_text="Qualifying carats over 12 months needed to reach this tier.",
    )
    discount_percent = models.DecimalField(
        verbose_name=_("discount (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    earn_multiplier = models.DecimalField(
        verbose_name=_("carats multiplier"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(0)],
        help_text="Carats per EUR are multiplied by this.",
    )
    public = models.BooleanField(
        verbose_name=_("public"), default=True, help_text="Shown to members and clients."
    )
    invite_only = models.BooleanField(
        verbose_name=_("by invitation only"),
        default=False,
        help_text="Never reached or lost automatically; marketing assigns it.",
    )
    color = models.CharField(verbose_name=_("colour"), max_length=7, default="#8a8a8a")
    benefits = models.TextField(
        verbose_name=_("benefits"), blank=True, help_text="One benefit per line."
    )
    benefits_nl = models.TextField(verbose_name=_("benefits (Dutch)"), blank=True)
    benefits_fr = models.TextField(verbose_name=_("benefits (French)"), blank=True)

    class Meta:
        ordering = ["rank"]

    def __str__(self):
        return self.name


class MemberTier(models.Model):
    """A member's current status. One row per member, written only by tiers.services."""

    member = models.OneToOneField(
        Member,
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="status",
    )
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="members"
    )
    reached_at = models.DateTimeField(verbose_name=_("reached"), default=timezone.now)
    hold_until = models.DateTimeField(
        verbose_name=_("kept at least until"),
        help_text="No automatic downgrade before this time (12 months after reaching).",
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
        JOINED = "joined", _("joined")
        UPGRADE = "upgrade", _("upgrade")
        DOWNGRADE = "downgrade", _("downgrade")
        INVITED = "invited", _("invited")
        REVOKED = "revoked", _("revoked")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        Tier,
        verbose_name=_("from"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(verbose_name=_("why"), max_length=16, choices=Reason.choices)
    note = models.CharField(verbose_name=_("note"), max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    changed_at = models.DateTimeField(
        verbose_name=_("changed"), default=timezone.now, db_index=True
    )

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["member", "-changed_at"], name="tierchange_member")]

    def __str__(self):
        """For people: "Radiant → Marquise (upgrade)" (the admin lists join the tiers)."""
        if self.from_tier_id is None:
            return f"{self.to_tier} ({self.get_reason_display()})"
        return f"{self.from_tier} → {self.to_tier} ({self.get_reason_display()})"


class Invitation(models.Model):
    """An invitation to an invite-only tier: a one-time link e-mailed to the member;
    accepting it assigns the tier."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="tier_invitations"
    )
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="+"
    )
    token = models.CharField(verbose_name=_("link token"), max_length=64, unique=True)
    note = models.CharField(verbose_name=_("note"), max_length=255)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("invited by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(verbose_name=_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(
        verbose_name=_("link valid until"),
    )
    accepted_at = models.DateTimeField(verbose_name=_("accepted"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.tier_id} for {self.member_id}"
