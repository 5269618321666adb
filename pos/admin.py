from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import path

from loyalty.kernel.admin_tools import EstimatedCountPaginator, ReadOnlyAdmin

from .admin_catalog import QuestionnaireAnswerInline  # noqa: F401 - registers the catalog
from .admin_import import import_view
from .api_auth import key_header
from .models import ApiKey, ExchangeRate, Purchase, PurchaseLine, Return, Store
from .services import api_key_create


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    """A store's settings are the superuser's. Anyone else who may change stores (the
    Store manager role, loyalty.kernel.roles) sees only their own stores (those they are staff
    of) and changes only who works there: shop assistants, never a console login (so no
    one adds themselves or a colleague of the console to a store's till)."""

    list_display = ["code", "name", "city", "currency", "time_zone", "active"]
    filter_horizontal = ["staff"]

    @staticmethod
    def _limited(request) -> bool:
        return not request.user.is_superuser and request.user.has_perm("pos.change_store")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(staff=request.user) if self._limited(request) else qs

    def has_change_permission(self, request, obj=None):
        if (
            obj is not None
            and self._limited(request)
            and not obj.staff.filter(pk=request.user.pk).exists()
        ):
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ["code", "name", "city", "currency", "time_zone", "active"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "staff" and not request.user.is_superuser:
            store_id = request.resolver_match.kwargs.get("object_id")
            current = Q(stores__pk=store_id) if store_id else Q(pk__in=[])
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(Q(is_staff=False, is_superuser=False) | current)
                .distinct()
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["currency", "rate_to_eur", "valid_from"]
    list_filter = ["currency"]
    date_hierarchy = "valid_from"

    def has_change_permission(self, request, obj=None):
        return False  # a new rate is a new row valid from its date; history stays true

    def has_delete_permission(self, request, obj=None):
        return False


class LineInline(admin.TabularInline):
    model = PurchaseLine
    extra = 0
    can_delete = False
    readonly_fields = ["sku", "category", "quantity", "amount", "service_guarantee"]

    def has_add_permission(self, request, obj=None):
        return False


class ReturnInline(admin.TabularInline):
    model = Return
    extra = 0
    can_delete = False
    fields = ["return_id", "amount", "carats_reversed", "carats_unrecovered", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class CurrencyFilter(admin.SimpleListFilter):
    """The currencies Carat knows (EUR, the rates table, the stores' currencies): small
    tables, where the default filter would read every distinct currency of the sales (a
    scan of millions of rows on each page view)."""

    title = "currency"
    parameter_name = "currency__exact"  # what the default filter used: old links still work

    def lookups(self, request, model_admin):
        known = {"EUR"}
        known.update(ExchangeRate.objects.values_list("currency", flat=True).distinct())
        known.update(Store.objects.values_list("currency", flat=True).distinct())
        return [(c, c) for c in sorted(known)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(currency=self.value())
        return queryset


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "receipt_id",
        "member",
        "channel",
        "store",
        "amount",
        "currency",
        "amount_eur",
        "carats_awarded",
    ]
    list_filter = ["channel", "store", CurrencyFilter]
    list_select_related = ["member", "store"]
    search_fields = ["=receipt_id"]
    ordering = ["-occurred_at"]  # the latest first (indexed)
    raw_id_fields = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    inlines = [LineInline, ReturnInline]
    change_list_template = "admin/pos/purchase/change_list.html"

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(import_view), name="pos_purchase_import"),
            *super().get_urls(),
        ]


@admin.register(Return)
class ReturnAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "return_id",
        "purchase",
        "amount",
        "carats_reversed",
        "carats_unrecovered",
    ]
    list_select_related = ["purchase"]
    search_fields = ["=return_id"]
    ordering = ["-created_at"]  # the latest first
    show_full_result_count = False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    # The scope says what the key may do (pos.api_auth.HasApiKey checks it; the API docs
    # name the scopes of every operation). The choices' labels spell each one out.
    list_display = ["name", "prefix", "scope", "store", "active", "created_at", "last_used_at"]
    list_filter = ["scope", "active"]
    fields = ["name", "scope", "store", "active"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def get_fields(self, request, obj=None):
        return (
            ["name", "scope", "store", "active"]
            if obj is None
            else ["name", "prefix", "scope", "store", "active", "created_at", "last_used_at"]
        )

    def get_readonly_fields(self, request, obj=None):
        # What a key may do is fixed when it is made: unbinding a till key's store would
        # let the till record sales for every store, and widening its scope would give a
        # till the integration's powers. Make a new key and deactivate this one instead.
        ro = list(super().get_readonly_fields(request, obj))
        return [*ro, "scope", "store"] if obj is not None else ro

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plain = api_key_create(name=obj.name, store=obj.store, scope=obj.scope)
        obj.pk = key.pk
        obj.prefix, obj.key_hash, obj.created_at = key.prefix, key.key_hash, key.created_at
        self.message_user(
            request,
            f"API key for {key.name} ({key.get_scope_display()}): {plain} — copy it now, "
            f"it is not shown again. Clients send it as the header: {key_header(plain)}",
            messages.WARNING,
        )

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead, so past sales keep their client


# The client book (pos/clienteling), read-only in the console.
from .clienteling import admin as _clienteling_admin  # noqa: E402, F401
