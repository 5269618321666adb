import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.shortcuts import render

from loyalty.admin_tools import EstimatedCountPaginator, ReadOnlyInline
from loyalty.errors import DomainError

from .models import ConsentChange, LedgerEntry, Member, User
from .selectors import member_search
from .services import ledger_adjust


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active"]
    search_fields = ["email"]
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


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
    fields = ["changed_at", "channel", "granted", "source"]
    readonly_fields = fields


class AdjustForm(forms.Form):
    carats = forms.IntegerField(help_text="Positive to give, negative to take back.")
    reason = forms.CharField(max_length=200)


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


class TierFilter(admin.SimpleListFilter):
    title = "tier"
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        from tiers.models import Tier

        return [(t.code, t.name) for t in Tier.objects.order_by("rank")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(status__tier__code=self.value())
        return queryset


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = [
        "member_number",
        "email",
        "first_name",
        "last_name",
        "tier_name",
        "balance",
        "purchase_count",
        "last_purchase_at",
        "source",
    ]
    list_select_related = ["status__tier"]
    list_filter = [TierFilter, "source", ConsentFilter]
    search_fields = ["member_number"]  # the real search is get_search_results, on indexes
    search_help_text = "Member number, exact e-mail, phone (+32…), or the start of a name."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ["-joined_at"]
    readonly_fields = [
        "member_number",
        "balance",
        "qr_rotated_at",
        "first_purchase_at",
        "last_purchase_at",
        "purchase_count",
        "lifetime_spend_eur",
        "email_opt_in_at",
        "sms_opt_in_at",
        "created_at",
        "updated_at",
    ]
    raw_id_fields = ["user"]
    fieldsets = [
        (None, {"fields": ["member_number", "email", "first_name", "last_name", "phone", "user"]}),
        (
            "Profile",
            {
                "fields": [
                    "birth_date",
                    "wedding_anniversary",
                    "language",
                    "country",
                    "time_zone",
                    "source",
                    "external_id",
                    "joined_at",
                ]
            },
        ),
        (
            "Consents",
            {"fields": ["email_opt_in", "email_opt_in_at", "sms_opt_in", "sms_opt_in_at"]},
        ),
        (
            "Carats and purchases",
            {
                "fields": [
                    "balance",
                    "purchase_count",
                    "lifetime_spend_eur",
                    "first_purchase_at",
                    "last_purchase_at",
                ]
            },
        ),
        ("Codes", {"fields": ["referral_code", "qr_rotated_at"], "classes": ["collapse"]}),
    ]
    inlines = [LedgerInline, ConsentInline]
    actions = ["adjust_carats"]

    @admin.display(description="tier", ordering="status__tier__rank")
    def tier_name(self, obj):
        status = getattr(obj, "status", None)
        return status.tier.name if status else "-"

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        ids = member_search(search_term).values("pk")
        return queryset.filter(pk__in=ids), False

    def get_readonly_fields(self, request, obj=None):
        ro = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            ro += ["email_opt_in", "sms_opt_in"]  # consents change only through the member
        return ro

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger is PROTECTed; erasure is its own audited process

    @admin.action(description="Adjust carats (with a reason)")
    def adjust_carats(self, request, queryset):
        if "apply" in request.POST:
            form = AdjustForm(request.POST)
            if form.is_valid():
                done = 0
                batch = uuid.uuid4().hex
                for member in queryset:
                    try:
                        ledger_adjust(
                            member=member,
                            carats=form.cleaned_data["carats"],
                            reason=form.cleaned_data["reason"],
                            actor=request.user,
                            key=f"adjust:{batch}:{member.pk}",
                        )
                        done += 1
                    except DomainError as exc:
                        self.message_user(request, f"{member}: {exc.message}", messages.ERROR)
                if done:
                    self.message_user(request, f"Adjusted {done} member(s).", messages.SUCCESS)
                return None
        else:
            form = AdjustForm()
        return render(
            request,
            "admin/members/adjust_carats.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "members": queryset,
                "title": "Adjust carats",
                "opts": self.model._meta,
            },
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """Read-only: the ledger is append-only; corrections are adjustments on the member."""

    list_display = ["created_at", "member", "kind", "carats", "balance_after", "reason"]
    list_filter = ["kind"]
    list_select_related = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ["member", "actor"]
    search_fields = ["key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
