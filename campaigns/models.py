from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


class Program(models.Model):
    """The loyalty program's base settings (one row). Bonus campaigns, actions and caps
    build on top of the base earning rule."""

    name = models.CharField(max_length=80, default="Diamond Club")
    points_name = models.CharField(max_length=32, default="carats")
    carats_per_eur = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(0)],
        help_text="Base earning rule: carats per 1 EUR spent (before the tier multiplier).",
    )
    signup_bonus = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "program settings"
        verbose_name_plural = "program settings"

    def __str__(self):
        return self.name
