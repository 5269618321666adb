"""Rewards: the catalog, vouchers, clubs, ambassadors' giveaways and rentals."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from members.models import Member
from tiers.models import Tier


class Reward(models.Model):
    """An item of the rewards catalog, bought with carats; issues a voucher."""

    class Kind(models.TextChoices):
        AMOUNT = "amount", "amount off (EUR)"
        PERCENT = "percent", "percent off"
        PRODUCT = "product", "free product"
        EXPERIENCE = "experience", "experience (VIP event, rental, ...)"

    name = models.CharField(max_length=120)
    name_nl = models.CharField(max_length=120, blank=True, default="")
    name_fr = models.CharField(max_length=120, blank=True, default="")
    description = models.TextField(blank=True)
    description_nl = models.TextField(blank=True)
    description_fr = models.TextField(blank=True)
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
    name_nl = models.CharField(max_length=120, blank=True, default="")
    name_fr = models.CharField(max_length=120, blank=True, default="")
    description = models.TextField(blank=True)
    description_nl = models.TextField(blank=True)
    description_fr = models.TextField(blank=True)
    perks = models.TextField(blank=True, help_text="One perk per line.")
    perks_nl = models.TextField(blank=True)
    perks_fr = models.TextField(blank=True)
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
