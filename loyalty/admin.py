"""The CRM console: the admin site composes every app. The member page is the single
customer view (profile, consents, tier and its history, ledger, purchases, returns)."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import render

from loyalty.admin_tools import EstimatedCountPaginator, ReadOnlyInline
from loyalty.errors import DomainError
from members.admin import AdjustForm, ConsentFilter, ConsentInline, LedgerInline
from members.models import Member
from members.selectors import member_search
from members.services import ledger_adjust
from pos.models import Purchase
from tiers.models import Tier, TierChange
from tiers.services import invitation_send, tier_invite, tier_revoke

admin.site.site_header = "Carat — CRM console"
admin.site.site_title = "Carat"
admin.site.index_title = "Diamond Club"


class TierChangeInline(ReadOnlyInline, admin.TabularInline):
    model = TierChange
    fk_name = "member"
    fields = ["changed_at", "from_tier", "to_tier", "reason", "note", "actor"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_tier", "to_tier", "actor")


class PurchaseInline(ReadOnlyInline, admin.TabularInline):
    model = Purchase
    fields = [
        "occurred_at",
        "channel",
        "store",
        "receipt_id",
        "amount",
        "currency",
        "amount_eur",
        "carats_awarded",
    ]
    readonly_fields = fields
    ordering = ["-occurred_at"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store")


class InviteForm(forms.Form):
    tier = forms.ModelChoiceField(queryset=Tier.objects.filter(invite_only=True))
    note = forms.CharField(max_length=200, help_text="Why: recorded in the tier history.")


class RevokeForm(forms.Form):
    note = forms.CharField(max_length=200, help_text="Why: recorded in the tier history.")


class TierFilter(admin.SimpleListFilter):
    title = "tier"
    parameter_name = "tier"

    def lookups(self, request, model_admin):
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
    inlines = [LedgerInline, PurchaseInline, TierChangeInline, ConsentInline]
    actions = ["adjust_carats", "send_invitation", "invite_to_tier", "revoke_invitation"]

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

    def _form_action(self, request, queryset, *, form_class, action, title, apply):
        """An admin action with a small form (what and why) before it calls a service."""
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                done = 0
                for member in queryset:
                    try:
                        apply(member, form.cleaned_data)
                        done += 1
                    except DomainError as exc:
                        self.message_user(request, f"{member}: {exc.message}", messages.ERROR)
                if done:
                    self.message_user(request, f"{title}: {done} member(s).", messages.SUCCESS)
                return None
        else:
            form = form_class()
        return render(
            request,
            "admin/members/member_action.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "members": queryset,
                "title": title,
                "action": action,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Adjust carats (with a reason)")
    def adjust_carats(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=AdjustForm,
            action="adjust_carats",
            title="Adjust carats",
            apply=lambda m, d: ledger_adjust(
                member=m,
                carats=d["carats"],
                reason=d["reason"],
                actor=request.user,
                key=f"adjust:{d['batch']}:{m.pk}",
            ),
        )

    @admin.action(description="Send a hidden-tier invitation by e-mail (Ambassador)")
    def send_invitation(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=InviteForm,
            action="send_invitation",
            title="Send invitation",
            apply=lambda m, d: invitation_send(
                member=m, tier=d["tier"], actor=request.user, note=d["note"]
            ),
        )

    @admin.action(description="Assign a hidden tier directly (Ambassador)")
    def invite_to_tier(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=InviteForm,
            action="invite_to_tier",
            title="Invite to tier",
            apply=lambda m, d: tier_invite(
                member=m, tier=d["tier"], actor=request.user, note=d["note"]
            ),
        )

    @admin.action(description="Revoke a hidden-tier invitation")
    def revoke_invitation(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=RevokeForm,
            action="revoke_invitation",
            title="Revoke invitation",
            apply=lambda m, d: tier_revoke(member=m, actor=request.user, note=d["note"]),
        )
