from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member

currency_validator = RegexValidator(r"^[A-Z]{3}$", "A 3-letter ISO currency code, e.g. EUR.")


class Store(models.Model):
    code = models.SlugField(verbose_name=_("code"), max_length=16, unique=True)
    name = models.CharField(verbose_name=_("name"), max_length=80)
    city = models.CharField(verbose_name=_("city"), max_length=80)
    currency = models.CharField(
        verbose_name=_("currency"), max_length=3, validators=[currency_validator], default="EUR"
    )
    time_zone = models.CharField(
        verbose_name=_("time zone"), max_length=64, default="Europe/Brussels"
    )
    active = models.BooleanField(verbose_name=_("open"), default=True)
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="stores", help_text="Shop assistants."
    )

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class ExchangeRate(models.Model):
    """1 unit of `currency` is worth `rate_to_eur` EUR from `valid_from` on."""

    currency = models.CharField(max_length=3, validators=[currency_validator])
    rate_to_eur = models.DecimalField(
        max_digits=14, decimal_places=6, validators=[MinValueValidator(0)]
    )
    valid_from = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "valid_from"], name="rate_unique_from"),
            models.CheckConstraint(condition=Q(rate_to_eur__gt=0), name="rate_positive"),
        ]

    def __str__(self):
        return f"1 {self.currency} = {self.rate_to_eur} EUR from {self.valid_from:%Y-%m-%d}"


class Channel(models.TextChoices):
    STORE = "store", "store"
    ONLINE = "online", "web shop"
    IMPORT = "import", "historical import"


class Purchase(models.Model):
    # No index of its own: purchase_member starts with it.
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,
    )
    channel = models.CharField(verbose_name=_("channel"), max_length=8, choices=Channel.choices)
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchases",
    )
    receipt_id = models.CharField(verbose_name=_("receipt"), max_length=64)
    receipt_key = models.CharField(
        verbose_name=_("receipt key"),
        max_length=100,
        help_text="channel:store:receipt — the idempotency key (unique).",
    )
    fingerprint = models.CharField(
        verbose_name=_("fingerprint"), max_length=64, help_text="Hash of the data first sent."
    )
    amount = models.DecimalField(verbose_name=_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    rate_to_eur = models.DecimalField(
        verbose_name=_("rate to EUR"), max_digits=14, decimal_places=6
    )
    amount_eur = models.DecimalField(
        verbose_name=_("amount (EUR)"), max_digits=12, decimal_places=2
    )
    occurred_at = models.DateTimeField(verbose_name=_("sold"), db_index=True)
    carats_awarded = models.IntegerField(verbose_name=_("carats earned"), default=0)
    carats_status = models.CharField(
        verbose_name=_("carats status"),
        max_length=10,
        default="credited",
        choices=[("credited", "credited"), ("pending", "pending"), ("held", "held for review")],
    )
    earning_reason = models.CharField(
        verbose_name=_("how the carats were earned"), max_length=255, blank=True
    )
    balance_after = models.IntegerField(verbose_name=_("balance after"), default=0)
    tier_after = models.CharField(verbose_name=_("tier after"), max_length=32, blank=True)
    tier_changed = models.BooleanField(verbose_name=_("tier changed"), default=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # see purchase_recorded_by: only sales a person recorded
    )
    client = models.CharField(
        verbose_name=_("recorded through"),
        max_length=80,
        blank=True,
        help_text="API client or page.",
    )
    created_at = models.DateTimeField(verbose_name=_("recorded"), default=timezone.now)

    class Meta:
        indexes = [
            # store: the client book's "bought at this store" is an index-only probe
            # (pos.clienteling.selectors.client_scope), not a visit of each sale's row.
            models.Index(
                fields=["member", "-occurred_at"], name="purchase_member", include=["store"]
            ),
            models.Index(
                fields=["recorded_by"],
                condition=Q(recorded_by__isnull=False),
                name="purchase_recorded_by",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="purchase_amount_positive"),
            models.UniqueConstraint(fields=["receipt_key"], name="purchase_receipt_key_unique"),
            models.CheckConstraint(
                condition=Q(channel="store", store__isnull=False) | ~Q(channel="store"),
                name="purchase_store_channel_has_store",
            ),
        ]

    def __str__(self):
        return f"{self.receipt_id} {self.amount} {self.currency}"


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.CASCADE, related_name="lines"
    )
    sku = models.CharField(verbose_name=_("SKU"), max_length=64)
    category = models.CharField(
        verbose_name=_("category"),
        max_length=64,
        blank=True,
        help_text=_("The catalog's category code when the SKU is known."),
    )
    quantity = models.PositiveIntegerField(verbose_name=_("quantity"), default=1)
    amount = models.DecimalField(verbose_name=_("amount"), max_digits=12, decimal_places=2)
    service_guarantee = models.BooleanField(verbose_name=_("service guarantee"), default=False)
    # The catalog's article (campaigns.Product) of this SKU; empty = a SKU the catalog
    # does not know (kept as sold, flagged; linked when the ERP sends it).
    product = models.ForeignKey(
        "campaigns.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The sale's member and moment, copied onto its lines when they are written: "bought
    # category X (in N days)" is then one index-only scan of the lines (category, member,
    # moment), not a join over every purchase (see campaigns.segments_catalog).
    member = models.ForeignKey(
        Member,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchase_lines",
        db_index=False,
    )
    occurred_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["category", "member", "occurred_at"], name="purchaseline_category"
            ),
            models.Index(fields=["sku", "member"], name="purchaseline_sku"),
        ]

    def __str__(self):
        return f"{self.quantity} x {self.sku}"

    @property
    def sku_known(self) -> bool:
        return self.product_id is not None


class Return(models.Model):
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="returns"
    )
    return_id = models.CharField(verbose_name=_("return"), max_length=64)
    return_key = models.CharField(verbose_name=_("return key"), max_length=100, unique=True)
    amount = models.DecimalField(verbose_name=_("amount"), max_digits=12, decimal_places=2)
    amount_eur = models.DecimalField(
        verbose_name=_("amount (EUR)"), max_digits=12, decimal_places=2
    )
    carats_reversed = models.IntegerField(verbose_name=_("carats taken back"), default=0)
    carats_cancelled = models.IntegerField(
        verbose_name=_("pending carats cancelled"),
        default=0,
        help_text="Pending or held carats cancelled (never reached the balance).",
    )
    carats_unrecovered = models.IntegerField(
        verbose_name=_("carats not recovered"),
        default=0,
        help_text="Carats due back but already spent (the balance never goes negative).",
    )
    balance_after = models.IntegerField(verbose_name=_("balance after"), default=0)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    occurred_at = models.DateTimeField(verbose_name=_("returned"), default=timezone.now)
    created_at = models.DateTimeField(verbose_name=_("recorded"), default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="return_amount_positive"),
        ]

    def __str__(self):
        return f"{self.return_id} against {self.purchase_id}"


class ApiKey(models.Model):
    """A client of the API: a till (bound to a store), the web shop, the ERP.
    Only a hash of the key is stored; the key is shown once when created.

    Its scope says what it may do; each API view declares the scopes it admits
    (`required_scopes`, checked by pos.api_auth.HasApiKey)."""

    class Scope(models.TextChoices):
        TILL = "till", "till: its store's sales, returns, member lookups and vouchers"
        INTEGRATION = "integration", "integration: members, events, sales of any channel"
        READ_ONLY = "read_only", "read-only: reads only"

    name = models.CharField(max_length=80)
    scope = models.CharField(
        max_length=12,
        choices=Scope.choices,
        default=Scope.READ_ONLY,
        help_text="What the key may do. A till key needs a store.",
    )
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    store = models.ForeignKey(
        Store,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text="A store-bound key can only record sales and returns for this store.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=~Q(scope="till") | Q(store__isnull=False),
                name="apikey_till_has_store",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def clean(self):
        if self.scope == self.Scope.TILL and self.store_id is None:
            raise ValidationError({"store": "A till key belongs to a store: choose one."})


class CounterJoin(models.Model):
    """A member who joined on their own phone through a store's join QR code: the store and
    the shop assistant who showed it. Written by pos.services.counter_join only."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="counter_join")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    associate = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The shop assistant whose join QR code the member used.",
    )
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["store", "-joined_at"], name="counterjoin_store_time")]

    def __str__(self):
        return f"{self.member_id} joined at {self.store_id}"


# The client book's models live with their module (pos/clienteling) and load with the app.
from .clienteling.models import (  # noqa: E402, F401
    Appointment,
    AppointmentSlot,
    ClientContact,
    ClientNote,
    ClientProfile,
    RedemptionRequest,
    StoreClient,
    WishlistItem,
)
from .questionnaire.models import QuestionnaireAnswer  # noqa: E402, F401
