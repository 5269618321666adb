"""The program's settings (one row)."""

from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

# A colour the member pages put into their style sheet: #rrggbb and nothing else.
hex_color = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #rrggbb, e.g. #b08d57.")


class Program(models.Model):
    """The loyalty program's base settings (one row)."""

    name = models.CharField(
        max_length=80, default="Diamond Club", help_text="The program's name, as members read it."
    )
    # The brand of the member pages (the account, the unsubscribe pages): one place.
    logo = models.CharField(
        max_length=120,
        default="brand/diamond-club.svg",
        help_text="A static file (shipped with the site), e.g. brand/diamond-club.svg.",
    )
    ink_color = models.CharField(
        max_length=7, default="#1d1d1f", validators=[hex_color], help_text="Text and buttons."
    )
    accent_color = models.CharField(
        max_length=7, default="#b08d57", validators=[hex_color], help_text="Gold lines, progress."
    )
    background_color = models.CharField(
        max_length=7, default="#faf8f4", validators=[hex_color], help_text="Page background."
    )
    typography = models.CharField(
        max_length=8,
        default="serif",
        choices=[("serif", "classic serif titles"), ("sans", "plain sans-serif")],
    )
    points_name = models.CharField(max_length=32, default="carats")
    # The sender of every member mail (deliverability: one recognisable name per brand).
    mail_from_name = models.CharField(
        max_length=80,
        blank=True,
        help_text="The sender's name in members' inboxes (empty: the program's name).",
    )
    mail_reply_to = models.EmailField(
        blank=True, help_text="Where members' replies go (empty: the sending address)."
    )
    legal_address = models.TextField(
        max_length=400,
        blank=True,
        help_text="The company's name and postal address, printed in every mail's footer.",
    )
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
    questionnaire_reward = models.ForeignKey(
        "Reward",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The voucher a member gets for answering the questionnaire after a purchase "
        "(once per purchase), e.g. 15 % off the next purchase. Empty = no voucher.",
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

    def clean(self):
        from django.contrib.staticfiles import finders
        from django.core.exceptions import ValidationError

        if self.logo and not finders.find(self.logo):
            raise ValidationError({"logo": "No static file by this name."})
