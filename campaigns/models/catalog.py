"""The product catalog (light): what the ERP sells, by SKU, with its name per language,
category, price and picture; and the best sellers per category, rebuilt nightly.

The catalog sits in the program's app so that segments and mails can read it; the
sales (pos) point their lines at it, never the other way round."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

sku_format = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$",
    "A SKU: letters, digits and . _ / - (at most 64).",
)
category_code = RegexValidator(r"^[a-z0-9][a-z0-9_-]{0,31}$", "A code: a-z, 0-9, _ and -.")


def validate_image_url(value: str) -> None:
    """A product picture is shown in members' mails: https only, an address a mail client
    can load, no credentials in it."""
    from urllib.parse import urlsplit

    if not value:
        return
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        raise ValidationError(
            "An image address starting with https://.", code="image_url"
        ) from None
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc:
        raise ValidationError("An image address starting with https://.", code="image_url")
    if any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F for c in value) or len(value) > 500:
        raise ValidationError("An image address starting with https://.", code="image_url")


class Category(models.Model):
    """A product category (rings, earrings, ...) with its name per language."""

    code = models.CharField(_("code"), max_length=32, unique=True, validators=[category_code])
    name = models.CharField(_("name"), max_length=80, help_text=_("In English."))
    name_nl = models.CharField(_("name (Dutch)"), max_length=80, blank=True, default="")
    name_fr = models.CharField(_("name (French)"), max_length=80, blank=True, default="")
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "code"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self):
        return self.name


class Product(models.Model):
    """One article of the ERP, upserted by SKU (the API's PUT /products/, the CSV)."""

    sku = models.CharField(_("SKU"), max_length=64, unique=True, validators=[sku_format])
    name = models.CharField(_("name"), max_length=120, help_text=_("In English."))
    name_nl = models.CharField(_("name (Dutch)"), max_length=120, blank=True, default="")
    name_fr = models.CharField(_("name (French)"), max_length=120, blank=True, default="")
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="products"
    )
    price = models.DecimalField(
        _("price"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("The shop price, tax included."),
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    image_url = models.URLField(
        _("image address"),
        max_length=500,
        blank=True,
        validators=[validate_image_url],
        help_text=_("https:// only."),
    )
    active = models.BooleanField(_("on sale"), default=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["sku"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
        ]

    def __str__(self):
        return f"{self.sku} {self.name}"


class PopularProduct(models.Model):
    """The best sellers of each category over the last 90 days (units sold, then
    revenue), rebuilt by the nightly job in one statement; the mails read it."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField(_("rank"))
    units = models.PositiveIntegerField(_("pieces sold"))
    computed_at = models.DateTimeField(_("ranked on"))

    class Meta:
        ordering = ["category", "rank"]
        verbose_name = _("popular product")
        verbose_name_plural = _("popular products")
        constraints = [
            models.UniqueConstraint(fields=["category", "rank"], name="popular_category_rank"),
        ]

    def __str__(self):
        return f"{self.category_id} #{self.rank}: {self.product_id}"
