from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from loyalty.kernel.admin_tools import (
    EstimatedCountPaginator,
    ReadOnlyAdmin,
    TranslatedContentAdmin,
)
from loyalty.kernel.csvexport import csv_response
from loyalty.kernel.errors import DomainError

from . import mailtext
from .models import (
    ActionRule,
    Award,
    Badge,
    Broadcast,
    Challenge,
    Club,
    ClubMembership,
    EarningRule,
    Giveaway,
    HeldCarats,
    MessageLog,
    Program,
    Rental,
    Reward,
    Segment,
    SegmentCondition,
    TriggerConfig,
    Voucher,
)
from .segments import segment_members
from .selectors import challenge_stats
from .services import giveaway_record, held_reject, held_release, rental_book, voucher_cancel
from .services.crm import broadcast_render, broadcast_test_send, message_results
from .services.dispatch import broadcast_schedule


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "carats_per_eur",
        "max_store_sales_per_day",
        "pending_days",
        "expiry_policy",
        "birthday_carats",
    ]
    raw_id_fields = ["birthday_reward", "questionnaire_reward"]

    def has_add_permission(self, request):
        return not Program.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class RuleAdminBase(TranslatedContentAdmin):
    translated = ("member_label",)
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
        (
            "What members read (never the internal name)",
            {"fields": ["member_label", "member_label_nl", "member_label_fr"]},
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
class AwardAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "earning_rule", "action_rule", "carats", "reference"]
    list_filter = ["earning_rule", "action_rule"]
    list_select_related = ["member", "earning_rule", "action_rule"]
    raw_id_fields = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(HeldCarats)
class HeldCaratsAdmin(ReadOnlyAdmin):
    """Review queue of the velocity check, and the pending carats of the return window."""

    list_display = ["created_at", "member", "carats", "status", "release_at", "reason"]
    list_filter = ["status"]
    list_select_related = ["member"]
    raw_id_fields = ["member"]
    actions = ["approve", "reject"]
    show_full_result_count = False

    @admin.action(description="Approve: credit the carats")
    def approve(self, request, queryset):
        done = sum(held_release(held=h, actor=request.user) for h in queryset)
        self.message_user(request, f"Credited {done} held amount(s).", messages.SUCCESS)

    @admin.action(description="Reject: do not award")
    def reject(self, request, queryset):
        done = sum(held_reject(held=h, actor=request.user) for h in queryset)
        self.message_user(request, f"Rejected {done} held amount(s).", messages.SUCCESS)


@admin.register(Reward)
class RewardAdmin(TranslatedContentAdmin):
    translated = ("name", "description")
    list_display = [
        "name",
        "kind",
        "cost_carats",
        "value",
        "active",
        "stock",
        "issued_count",
        "per_member_limit",
        "tier_list",
    ]
    list_filter = ["active", "kind", "tiers"]
    filter_horizontal = ["tiers"]
    readonly_fields = ["issued_count"]
    search_fields = ["name"]

    @admin.display(description="visible to")
    def tier_list(self, obj):
        return ", ".join(t.name for t in obj.tiers.all()) or "all public tiers"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tiers")


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "title",
        "member",
        "status",
        "source",
        "cost_carats",
        "issued_at",
        "valid_until",
        "used_at",
        "used_where",
    ]
    list_filter = ["status", "source", "kind"]
    list_select_related = ["member"]
    search_fields = ["=code"]
    raw_id_fields = ["member", "reward", "used_by"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["cancel_and_refund"]

    @admin.action(description="Cancel unused vouchers and refund their carats")
    def cancel_and_refund(self, request, queryset):
        done = 0
        for voucher in queryset:
            try:
                voucher_cancel(voucher=voucher, actor=request.user)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{voucher.code}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"Cancelled {done} voucher(s).", messages.SUCCESS)


class MembershipInline(admin.TabularInline):
    model = ClubMembership
    extra = 0
    can_delete = False
    fields = ["member", "started_at", "ends_at", "carats_paid"]
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Club)
class ClubAdmin(TranslatedContentAdmin):
    translated = ("name", "description", "perks")
    list_display = ["name", "cost_carats", "duration_days", "active"]
    filter_horizontal = ["tiers"]


@admin.register(ClubMembership)
class ClubMembershipAdmin(ReadOnlyAdmin):
    list_display = ["member", "club", "started_at", "ends_at", "carats_paid"]
    list_filter = ["club"]
    list_select_related = ["member", "club"]
    raw_id_fields = ["member"]


@admin.register(MessageLog)
class MessageLogAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "member",
        "trigger",
        "occasion",
        "status",
        "subject",
        "sent_at",
        "attempts",
    ]
    list_filter = ["trigger", "status"]
    list_select_related = ["member"]
    raw_id_fields = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ServiceCreateAdmin(admin.ModelAdmin):
    """New rows go through a service (its rules apply); existing rows are edited plainly."""

    raw_id_fields = ["member"]

    def create(self, request, form):  # pragma: no cover - overridden
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        created = self.create(request, form)
        obj.pk = created.pk
        return None

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path)


@admin.register(Giveaway)
class GiveawayAdmin(ServiceCreateAdmin):
    list_display = ["hosted_on", "title", "member", "channel", "free_piece", "recorded_by"]
    list_select_related = ["member", "recorded_by"]
    exclude = ["recorded_by", "created_at"]

    def create(self, request, form):
        d = form.cleaned_data
        return giveaway_record(
            member=d["member"],
            title=d["title"],
            hosted_on=d["hosted_on"],
            free_piece=d["free_piece"],
            channel=d["channel"],
            notes=d["notes"],
            actor=request.user,
        )


@admin.register(Rental)
class RentalAdmin(ServiceCreateAdmin):
    list_display = ["starts_on", "ends_on", "piece", "sku", "event", "member", "status"]
    list_filter = ["status"]
    list_select_related = ["member"]

    def create(self, request, form):
        d = form.cleaned_data
        return rental_book(
            member=d["member"],
            piece=d["piece"],
            sku=d["sku"],
            event=d["event"],
            starts_on=d["starts_on"],
            ends_on=d["ends_on"],
        )


class ConditionInline(admin.TabularInline):
    model = SegmentCondition
    extra = 1


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "match", "created_at"]
    inlines = [ConditionInline]
    readonly_fields = ["live_count", "preview"]
    fields = ["name", "match", "description", "live_count", "preview"]
    actions = ["export_csv"]

    @admin.display(description="members now")
    def live_count(self, obj):
        if not obj.pk:
            return "-"
        try:
            return f"{segment_members(obj).count():,}"
        except DomainError as exc:
            return f"Check the conditions: {exc.message}"

    @admin.display(description="first members")
    def preview(self, obj):
        if not obj.pk:
            return "-"
        try:
            rows = segment_members(obj).order_by("pk")[:20]
            return (
                format_html_join(
                    "",
                    "<div>{} — {} {} ({})</div>",
                    ((m.member_number, m.first_name, m.last_name, m.email) for m in rows),
                )
                or "none"
            )
        except DomainError as exc:
            return exc.message

    @admin.action(description="Export members as CSV")
    def export_csv(self, request, queryset):
        segment = queryset.first()
        header = [
            "member_number",
            "email",
            "first_name",
            "last_name",
            "language",
            "country",
            "balance",
            "purchase_count",
            "lifetime_spend_eur",
            "last_purchase_at",
        ]
        rows = segment_members(segment).order_by("pk").values_list(*header)
        # The shared writer: members write their own names, so text cells that a
        # spreadsheet would run as a formula are neutralised; UTF-8 with a BOM.
        return csv_response(f"segment-{segment.pk}.csv", header, rows.iterator(chunk_size=5000))


class MailTextsAdmin(admin.ModelAdmin):
    """Subjects and bodies are staff-written texts rendered in the sandbox
    (campaigns.mailtext): the list of variables stands beside each body field, and the
    model's validator refuses anything else with a message under the field."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and db_field.name.startswith("body_"):
            formfield.help_text = mailtext.HELP_TEXT
        elif formfield is not None and db_field.name.startswith("subject_"):
            formfield.help_text = mailtext.SUBJECT_HELP_TEXT
        return formfield


@admin.register(TriggerConfig)
class TriggerConfigAdmin(MailTextsAdmin):
    list_display = [
        "trigger",
        "enabled",
        "marketing",
        "priority",
        "offset_days",
        "gift_carats",
        "gift_reward",
        "segment",
        "results",
    ]
    list_editable = ["enabled", "priority"]
    raw_id_fields = ["gift_reward"]
    fieldsets = [
        (
            None,
            {"fields": ["trigger", "enabled", "marketing", "priority", "offset_days", "segment"]},
        ),
        ("Gift inside", {"fields": ["gift_carats", "gift_reward"]}),
        ("English", {"fields": ["subject_en", "body_en"]}),
        ("Nederlands", {"fields": ["subject_nl", "body_nl"], "classes": ["collapse"]}),
        ("Français", {"fields": ["subject_fr", "body_fr"], "classes": ["collapse"]}),
    ]

    def changelist_view(self, request, extra_context=None):
        self._results = {r["trigger"]: r for r in message_results()}
        return super().changelist_view(request, extra_context)

    @admin.display(description="sent / opened / clicked / unsub. / bought in 14 d")
    def results(self, obj):
        r = getattr(self, "_results", {}).get(obj.trigger)
        if not r:
            return "-"
        return (
            f"{r['sent']} / {r['opened']} ({r['open_rate']}%) / {r['clicked']} / "
            f"{r['unsubscribed']} / {r['purchases']}"
        )


@admin.register(Broadcast)
class BroadcastAdmin(MailTextsAdmin):
    list_display = ["name", "segment", "scheduled_at", "status", "recipients", "results"]
    list_filter = ["status"]
    readonly_fields = ["status", "recipients", "preview"]
    actions = ["schedule", "send_test"]
    fieldsets = [
        (None, {"fields": ["name", "segment", "scheduled_at", "status", "recipients"]}),
        ("English", {"fields": ["subject_en", "body_en", "preview"]}),
        ("Nederlands", {"fields": ["subject_nl", "body_nl"], "classes": ["collapse"]}),
        ("Français", {"fields": ["subject_fr", "body_fr"], "classes": ["collapse"]}),
    ]

    @admin.display(description="preview (first member of the segment)")
    def preview(self, obj):
        if not obj.pk:
            return "-"
        member = segment_members(obj.segment).order_by("pk").first()
        if member is None:
            return "The segment is empty."
        subject, body = broadcast_render(obj, member)
        return format_html(
            "<strong>{}</strong><pre style='white-space:pre-wrap'>{}</pre>", subject, body
        )

    @admin.display(description="sent / opened / clicked")
    def results(self, obj):
        logs = MessageLog.objects.filter(broadcast=obj)
        sent = logs.filter(status="sent").count()
        if not sent:
            return "-"
        opened = logs.filter(opened_at__isnull=False).count()
        clicked = logs.filter(clicked_at__isnull=False).count()
        return f"{sent} / {opened} / {clicked}"

    @admin.action(description="Schedule (at its time, or now if empty)")
    def schedule(self, request, queryset):
        for b in queryset.filter(status__in=["draft", "scheduled"]):
            broadcast_schedule(broadcast=b)
        self.message_user(
            request, "Scheduled. The dispatcher sends it at its time.", messages.SUCCESS
        )

    @admin.action(description="Send a test to myself")
    def send_test(self, request, queryset):
        for b in queryset:
            broadcast_test_send(broadcast=b, to=request.user.email)
        self.message_user(request, f"Test sent to {request.user.email}.", messages.SUCCESS)


@admin.register(Challenge)
class ChallengeAdmin(TranslatedContentAdmin):
    translated = ("name", "description")
    list_display = [
        "name",
        "goal",
        "enrolment",
        "active",
        "window_days",
        "reward_multiplier",
        "reward_carats",
        "badge",
        "results",
    ]
    list_filter = ["active", "goal"]
    filter_horizontal = ["tiers"]
    readonly_fields = ["carats_given", "results"]
    fieldsets = [
        (None, {"fields": ["name", "description", "active"]}),
        (
            "For members in Dutch and French (empty: English)",
            {"fields": ["name_nl", "description_nl", "name_fr", "description_fr"]},
        ),
        ("Goal", {"fields": ["goal", "goal_amount"]}),
        (
            "Who and when",
            {"fields": ["enrolment", "segment", "tiers", "window_days", "starts_at", "ends_at"]},
        ),
        (
            "Reward",
            {
                "fields": [
                    "reward_multiplier",
                    "reward_carats",
                    "reward_voucher",
                    "badge",
                    "budget_carats",
                    "carats_given",
                ]
            },
        ),
        ("Results", {"fields": ["results"]}),
    ]
    raw_id_fields = ["reward_voucher"]

    @admin.display(
        description="enrolled / completed (rate) / carats / 2nd-purchase conversion: enrolled vs not"
    )
    def results(self, obj):
        if not obj.pk:
            return "-"
        s = challenge_stats(obj)

        def pct(v):
            return "-" if v is None else f"{v}%"

        return (
            f"{s['enrolled']} / {s['completed']} ({pct(s['completion_rate'])}) / "
            f"{s['carats_given']} / {pct(s['conversion_enrolled'])} vs {pct(s['conversion_not_enrolled'])}"
        )


@admin.register(Badge)
class BadgeAdmin(admin.ModelAdmin):
    list_display = ["earned_at", "member", "name", "challenge"]
    list_select_related = ["member", "challenge"]
    raw_id_fields = ["member"]

    def has_add_permission(self, request):
        return False
