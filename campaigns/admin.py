from django.contrib import admin, messages

from loyalty.admin_tools import EstimatedCountPaginator

from .models import ActionRule, Award, EarningRule, HeldCarats, Program
from .services import held_reject, held_release


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ["name", "carats_per_eur", "max_store_sales_per_day", "pending_days"]

    def has_add_permission(self, request):
        return not Program.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class RuleAdminBase(admin.ModelAdmin):
    readonly_fields = ["carats_given"]
    list_filter = ["active"]
    search_fields = ["name"]
    save_as = True


@admin.register(EarningRule)
class EarningRuleAdmin(RuleAdminBase):
    list_display = [
        "name",
        "active",
        "starts_at",
        "ends_at",
        "priority",
        "multiplier",
        "bonus_carats",
        "stop_further",
        "budget_carats",
        "carats_given",
    ]
    filter_horizontal = ["tiers"]
    fieldsets = [
        (
            None,
            {"fields": ["name", "active", ("starts_at", "ends_at"), "priority", "stop_further"]},
        ),
        ("What it gives", {"fields": ["multiplier", "bonus_carats"]}),
        (
            "When it applies (empty = always)",
            {
                "fields": [
                    "store_codes",
                    "channels",
                    "tiers",
                    "categories",
                    "skus",
                    "min_amount_eur",
                ]
            },
        ),
        ("Caps", {"fields": ["max_per_member", "cap_period", "budget_carats", "carats_given"]}),
    ]


@admin.register(ActionRule)
class ActionRuleAdmin(RuleAdminBase):
    list_display = [
        "name",
        "action",
        "carats",
        "active",
        "starts_at",
        "ends_at",
        "max_per_member",
        "cap_period",
        "once_per_reference",
        "budget_carats",
        "carats_given",
    ]
    list_filter = ["active", "action"]


@admin.register(Award)
class AwardAdmin(admin.ModelAdmin):
    list_display = ["created_at", "member", "earning_rule", "action_rule", "carats", "reference"]
    list_filter = ["earning_rule", "action_rule"]
    list_select_related = ["member", "earning_rule", "action_rule"]
    raw_id_fields = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(HeldCarats)
class HeldCaratsAdmin(admin.ModelAdmin):
    """Review queue of the velocity check, and the pending carats of the return window."""

    list_display = ["created_at", "member", "carats", "status", "release_at", "reason"]
    list_filter = ["status"]
    list_select_related = ["member"]
    raw_id_fields = ["member"]
    actions = ["approve", "reject"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Approve: credit the carats")
    def approve(self, request, queryset):
        done = sum(held_release(held=h, actor=request.user) for h in queryset)
        self.message_user(request, f"Credited {done} held amount(s).", messages.SUCCESS)

    @admin.action(description="Reject: do not award")
    def reject(self, request, queryset):
        done = sum(held_reject(held=h, actor=request.user) for h in queryset)
        self.message_user(request, f"Rejected {done} held amount(s).", messages.SUCCESS)
