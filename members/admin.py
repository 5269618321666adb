import uuid

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.utils.translation import gettext_lazy as _

from loyalty.kernel.admin_tools import EstimatedCountPaginator, ReadOnlyAdmin, ReadOnlyInline

from .models import ConsentChange, LedgerEntry, User


class UserChangeForm(BaseUserChangeForm):
    def clean(self):
        cleaned = super().clean()
        # An opened or staff login is no longer waiting for its owner: once an
        # administrator closes it again, the member pages must never reopen it.
        if cleaned.get("is_active") or cleaned.get("is_staff") or cleaned.get("is_superuser"):
            cleaned["pending_activation"] = False
        return cleaned


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active"]
    search_fields = ["email"]
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "pending_activation",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    # Only superusers grant rights or touch other staff: a marketing user who may manage
    # logins must not make themselves (or anyone) a superuser, nor reset an admin's password.
    PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [f for f in self.PRIVILEGE_FIELDS if f not in fields]
        return fields

    def has_change_permission(self, request, obj=None):
        if (
            obj is not None
            and not request.user.is_superuser
            and (obj.is_superuser or (obj.is_staff and obj.pk != request.user.pk))
        ):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not request.user.is_superuser and (obj.is_superuser or obj.is_staff):
            return False
        return super().has_delete_permission(request, obj)


class LedgerInline(ReadOnlyInline, admin.TabularInline):
    model = LedgerEntry
    fields = ["created_at", "kind", "carats", "balance_after", "reason", "actor"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class ConsentInline(ReadOnlyInline, admin.TabularInline):
    model = ConsentChange
    verbose_name_plural = _("consent changes")
    fields = ["changed_at", "channel", "granted", "source"]
    readonly_fields = fields


# One manual correction moves at most this many carats (the balance is a 32-bit integer
# in the database; a bigger number was a database error, an HTML 500).
MAX_ADJUSTMENT = 1_000_000


class AdjustForm(forms.Form):
    # Bounded: a slip of the finger (or 10**20) is a clear message, not a 500 or a fortune.
    carats = forms.IntegerField(
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
        help_text="Positive to give, negative to take back (at most 1,000,000 at a time).",
    )
    reason = forms.CharField(max_length=200)
    # Makes the adjustment idempotent: submitting the same form twice books it once.
    batch = forms.CharField(widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)


class ConsentFilter(admin.SimpleListFilter):
    title = "consent"
    parameter_name = "consent"

    def lookups(self, request, model_admin):
        return [("email", "e-mail yes"), ("no_email", "e-mail no"), ("sms", "SMS yes")]

    def queryset(self, request, queryset):
        return {
            "email": queryset.filter(email_opt_in=True),
            "no_email": queryset.filter(email_opt_in=False),
            "sms": queryset.filter(sms_opt_in=True),
        }.get(self.value(), queryset)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    """Read-only: the ledger is append-only; corrections are adjustments on the member."""

    list_display = ["created_at", "member", "kind", "carats", "balance_after", "reason"]
    list_filter = ["kind"]
    ordering = ["-created_at", "-id"]  # the latest first (index ledger_created)
    list_select_related = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ["member", "actor"]
    search_fields = ["key"]
