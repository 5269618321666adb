from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import path
from django.utils.translation import gettext_lazy, ngettext

from loyalty.kernel.admin_tools import (
    EstimatedCountPaginator,
    ReadOnlyAdmin,
    TranslatedContentAdmin,
)
from loyalty.kernel.errors import DomainError

from . import (
    console_admin,  # noqa: F401 - registers the rules' and segments' pages
    mailtext,
)
from .admin_experiments import (
    EXPERIMENT_FIELDSET_NAME,
    HOLDOUT_FIELDSET_NAME,
    BroadcastVariantInline,
    TriggerVariantInline,
    UpliftLink,
)
from .forms import sku_formfield
from .mail import console as mail_console
from .mail.defaults import default_texts
from .models import (
    Award,
    Badge,
    Broadcast,
    Challenge,
    Club,
    ClubMembership,
    Giveaway,
    HeldCarats,
    MessageLog,
    Program,
    Rental,
    Reward,
    TriggerConfig,
    Voucher,
)
from .selectors import challenge_stats
from .services import giveaway_record, held_reject, held_release, rental_book, voucher_cancel
from .services.crm import broadcast_test_send, message_results
from .services.dispatch import broadcast_schedule, broadcast_send_now


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

    @admin.action(description=gettext_lazy("Approve: credit the carats"))
    def approve(self, request, queryset):
        rows = list(queryset)
        done = [h for h in rows if held_release(held=h, actor=request.user)]
        carats = sum(h.carats for h in done)
        self.message_user(
            request,
            ngettext(
                "Credited %(carats)s carats to %(n)s member.",
                "Credited %(carats)s carats to %(n)s members.",
                len({h.member_id for h in done}),
            )
            % {"carats": carats, "n": len({h.member_id for h in done})},
            messages.SUCCESS,
        )

    @admin.action(description=gettext_lazy("Reject: do not award"))
    def reject(self, request, queryset):
        done = sum(held_reject(held=h, actor=request.user) for h in queryset)
        self.message_user(
            request,
            ngettext(
                "Rejected %(n)s held amount: no carats credited.",
                "Rejected %(n)s held amounts: no carats credited.",
                done,
            )
            % {"n": done},
            messages.SUCCESS,
        )


class SkuPickerMixin:
    """The SKU field is picked from the product catalog (campaigns.forms.sku_formfield)."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "sku":
            return sku_formfield(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(Reward)
class RewardAdmin(SkuPickerMixin, TranslatedContentAdmin):
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
        "delivery",
        "attempts",
    ]
    list_filter = ["trigger", "status", "delivery"]
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
class RentalAdmin(SkuPickerMixin, ServiceCreateAdmin):
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


class MailTextsAdmin(admin.ModelAdmin):
    """Subjects and bodies are staff-written texts rendered in the sandbox
    (campaigns.mailtext): the variable picker stands beside the text fields, and the
    model's validator refuses anything else with a message under the field. The content
    blocks are switched and ordered with the block picker; "Preview and test" shows the
    mail exactly as sent (campaigns.mail.console)."""

    class Media:
        js = ["campaigns/mail_console.js"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "blocks":
            return mail_console.BlocksField(required=False, label="Content blocks")
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and db_field.name.startswith("body_"):
            formfield.help_text = mailtext.HELP_TEXT
        elif formfield is not None and db_field.name.startswith("subject_"):
            formfield.help_text = mailtext.SUBJECT_HELP_TEXT
        return formfield

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "blocks" in form.base_fields:
            form.base_fields["blocks"].widget.trigger = getattr(obj, "trigger", "broadcast")
        return form

    @admin.display(description="variables (click to insert)")
    def variables(self, obj):
        return mail_console.variable_picker()

    @admin.display(description="preview and test")
    def preview_link(self, obj):
        return mail_console.preview_link(obj)

    @admin.display(description="languages")
    def language_gaps(self, obj):
        return mail_console.gaps_text(obj)


@admin.register(TriggerConfig)
class TriggerConfigAdmin(UpliftLink, MailTextsAdmin):
    uplift_kind = "trigger"
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
            {
                "fields": [
                    "trigger",
                    "enabled",
                    "marketing",
                    "priority",
                    "offset_days",
                    "p_alive_below",
                    "segment",
                ]
            },
        ),
        ("Gift inside", {"fields": ["gift_carats", "gift_reward"]}),
        *mail_console.MAIL_FIELDSETS,
        (
            EXPERIMENT_FIELDSET_NAME,
            {"fields": ["holdout_percent", "winner_after_days", "winner_by", "winner", "uplift"]},
        ),
    ]
    inlines = [TriggerVariantInline]
    readonly_fields = ["variables", "preview_link", "language_gaps", "winner", "uplift"]

    def get_urls(self):
        view = self.admin_site.admin_view(lambda r: mail_console.preview_view(self, r))
        return [path("preview/", view, name="campaigns_mail_preview"), *super().get_urls()]

    def get_changeform_initial_data(self, request):
        """A new trigger starts from the default texts (the reason in every language)."""
        initial = super().get_changeform_initial_data(request)
        trigger = request.GET.get("trigger", "")
        return {**default_texts(trigger), **initial} if trigger else initial

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
class BroadcastAdmin(UpliftLink, MailTextsAdmin):
    uplift_kind = "broadcast"
    list_display = ["name", "segment", "scheduled_at", "status", "when", "recipients", "results"]
    list_filter = ["status"]
    readonly_fields = [
        "status",
        "when",
        "recipients",
        "variables",
        "preview_link",
        "language_gaps",
        "winner",
        "uplift",
    ]
    actions = ["send_now", "schedule", "send_test"]
    fieldsets = [
        (None, {"fields": ["name", "segment", "scheduled_at", "status", "when", "recipients"]}),
        *mail_console.MAIL_FIELDSETS,
        (
            EXPERIMENT_FIELDSET_NAME,
            {"fields": ["holdout_percent", "winner_after_days", "winner_by", "winner", "uplift"]},
        ),
    ]
    inlines = [BroadcastVariantInline]

    @admin.display(description="mails go")
    def when(self, obj):
        return mail_console.when_text(obj)

    @admin.display(description="sent / opened / clicked / delivered / bounced / complained")
    def results(self, obj):
        return mail_console.broadcast_results(obj)

    @admin.action(description="Send now (the mails go within a minute)")
    def send_now(self, request, queryset):
        for b in queryset.filter(status__in=["draft", "scheduled"]):
            mail_console.warn_gaps(self, request, b)
            broadcast_send_now(broadcast=b)
            self.message_user(request, mail_console.going_text(b, now=True), messages.SUCCESS)

    @admin.action(description="Schedule (at its time, or now if empty)")
    def schedule(self, request, queryset):
        for b in queryset.filter(status__in=["draft", "scheduled"]):
            mail_console.warn_gaps(self, request, b)
            broadcast_schedule(broadcast=b)
            self.message_user(request, mail_console.going_text(b), messages.SUCCESS)

    @admin.action(description="Send a test to myself")
    def send_test(self, request, queryset):
        for b in queryset:
            broadcast_test_send(broadcast=b, to=request.user.email)
        self.message_user(request, f"Test sent to {request.user.email}.", messages.SUCCESS)


@admin.register(Challenge)
class ChallengeAdmin(UpliftLink, TranslatedContentAdmin):
    uplift_kind = "challenge"
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
    readonly_fields = ["carats_given", "results", "uplift"]
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
        (HOLDOUT_FIELDSET_NAME, {"fields": ["holdout_percent", "uplift"]}),
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
