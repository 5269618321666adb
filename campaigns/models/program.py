"""The program's settings (one row)."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


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
