"""The console's pages for bonus campaigns, action rules and segments: pickers instead
of typed codes, recurring windows, the "what would this sale earn" simulator and the
segment builder with its live count. Registered from campaigns.admin."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from loyalty.kernel.admin_tools import TranslatedContentAdmin
from loyalty.kernel.csvexport import csv_response
from loyalty.kernel.errors import DomainError
from loyalty.kernel.replica import reading_alias, replica_reads
from members.models import Member
from pos.models import Channel, ExchangeRate, Store
from pos.services.simulate import sale_simulate

from .admin_experiments import HOLDOUT_FIELDSET_NAME, UpliftLink
from .forms import EarningRuleForm, SaleSimulationForm, SegmentForm, conditions_from_json
from .models import ActionRule, EarningRule, Repeat, Segment, SegmentCondition
from .models.earning import WEEKDAYS
from .segments import condition_choices, segment_members, segment_reach
from .services.segments import segment_conditions_replace

F = SegmentCondition.Field


class RuleAdminBase(TranslatedContentAdmin):
    translated = ("member_label",)
    readonly_fields = ["carats_given"]
    list_filter = ["active"]
    search_fields = ["name"]
    save_as = True


def window_label(rule: EarningRule) -> str:
    """The rule's recurring window in words: "Saturday, Sunday", "first Monday"."""
    days = dict(WEEKDAYS)
    chosen = ", ".join(str(days[d]) for d in rule.weekdays.split(",") if d in days)
    if rule.repeat == Repeat.WEEKLY:
        return _("every %(days)s") % {"days": chosen}
    if rule.repeat == Repeat.MONTHLY:
        return _("the %(which)s %(days)s of the month") % {
            "which": rule.get_month_week_display(),
            "days": chosen,
        }
    if rule.repeat == Repeat.YEARLY and rule.yearly_from and rule.yearly_until:
        return _("%(start)s to %(end)s each year") % {
            "start": date_format(rule.yearly_from, "j F"),
            "end": date_format(rule.yearly_until, "j F"),
        }
    return _("every day")


@admin.register(EarningRule)
class EarningRuleAdmin(UpliftLink, RuleAdminBase):
    uplift_kind = "rule"
    form = EarningRuleForm
    readonly_fields = ["carats_given", "uplift"]
    list_display = [
        "name",
        "active",
        "starts_at",
        "ends_at",
        "window",
        "gives",
        "carats_given",
    ]
    filter_horizontal = ["tiers"]
    change_form_template = "admin/campaigns/earningrule/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "active", "priority", "stop_further"]}),
        (
            gettext_lazy("What members read (never the internal name)"),
            {"fields": ["member_label", "member_label_nl", "member_label_fr"]},
        ),
        (
            gettext_lazy("When"),
            {
                "fields": [
                    ("starts_at", "ends_at"),
                    "repeat",
                    "weekdays",
                    "month_week",
                    ("yearly_from", "yearly_until"),
                ]
            },
        ),
        (gettext_lazy("What it gives"), {"fields": ["multiplier", "bonus_carats"]}),
        (
            gettext_lazy("Which sales (nothing chosen: every sale)"),
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
        (
            gettext_lazy("Caps"),
            {"fields": ["max_per_member", "cap_period", "budget_carats", "carats_given"]},
        ),
        (HOLDOUT_FIELDSET_NAME, {"fields": ["holdout_percent", "uplift"]}),
    ]

    @admin.display(description=gettext_lazy("repeats"))
    def window(self, obj):
        return window_label(obj)

    @admin.display(description=gettext_lazy("gives"))
    def gives(self, obj):
        parts = [f"x{obj.multiplier.normalize():f}"] if obj.multiplier > 1 else []
        if obj.bonus_carats:
            parts.append(_("+%(n)s carats") % {"n": obj.bonus_carats})
        return " ".join(parts)

    def get_urls(self):
        return [
            path(
                "<int:pk>/simulate/",
                self.admin_site.admin_view(self.simulate_view),
                name="campaigns_earningrule_simulate",
            ),
            *super().get_urls(),
        ]

    def simulate_view(self, request, pk):
        """What would this sale earn: the real sale's decision, nothing written."""
        rule = get_object_or_404(EarningRule, pk=pk)
        if not self.has_view_permission(request, rule):
            raise PermissionDenied
        currencies = sorted({"EUR", *ExchangeRate.objects.values_list("currency", flat=True)})
        first_store = Store.objects.filter(code__in=rule.store_codes.split(",")).first()
        form = SaleSimulationForm(
            request.POST or None,
            initial={"currency": "EUR", "channel": Channel.STORE, "store": first_store},
            members=Member.objects.filter(erased_at__isnull=True),
            stores=Store.objects.filter(active=True),
            channels=[(c, label) for c, label in Channel.choices if c != Channel.IMPORT],
            currencies=currencies,
            admin_site=self.admin_site,
        )
        result = None
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                result = sale_simulate(
                    member=d["member"],
                    amount=f"{d['amount']:.2f}",
                    currency=d["currency"],
                    channel=d["channel"],
                    store=d["store"] if d["channel"] == Channel.STORE else None,
                    occurred_at=form.occurred_at(),
                    lines=d["lines"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": rule,
            "title": _("What would this sale earn?"),
            "form": form,
            "result": result,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/campaigns/earningrule/simulate.html", context)


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


# How the builder asks for each condition's value (a condition added later is typed in).
NUMBER = {
    F.BALANCE_MIN,
    F.BALANCE_MAX,
    F.SPEND_MIN,
    F.SPEND_MAX,
    F.PURCHASES_MIN,
    F.PURCHASES_MAX,
    F.DAYS_SINCE_PURCHASE_MIN,
    F.DAYS_SINCE_PURCHASE_MAX,
    F.BIRTHDAY_WITHIN,
    F.WEDDING_WITHIN,
    F.JOINED_WITHIN,
}
DATE = {F.JOINED_AFTER, F.JOINED_BEFORE}
YES_NO = {F.EMAIL_CONSENT, F.SMS_CONSENT, F.AMBASSADOR}
NO_VALUE = {F.ONE_PURCHASE, F.NEVER_BOUGHT}
ONE_OF = {F.CLUB}


def builder_fields() -> list[dict]:
    out = []
    for value, label in F.choices:
        choices = condition_choices(value)
        if choices is not None:
            kind = "one" if value in ONE_OF else "multi"
        elif value in NUMBER:
            kind = "number"
        elif value in DATE:
            kind = "date"
        elif value in YES_NO:
            kind, choices = "one", [("yes", _("yes")), ("no", _("no"))]
        elif value in NO_VALUE:
            kind = "none"
        else:
            kind = "text"
        out.append({"value": value, "label": str(label), "kind": kind, "choices": choices})
    return out


def builder_text() -> dict:
    return {
        "all": _("Members who meet all of these:"),
        "or": _("or"),
        "add": _("+ condition"),
        "add_group": _("+ or another group"),
        "remove": _("Remove"),
        "not": _("not"),
        "counting": _("Counting…"),
        "reach": _("%(members)s members · %(email)s reachable by e-mail · %(sms)s by text message"),
        "everyone": _("No condition: every member."),
    }


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "conditions_text", "created_at"]
    readonly_fields = ["preview"]
    fields = ["name", "description", "definition", "preview"]
    change_form_template = "admin/campaigns/segment/change_form.html"
    actions = ["export_csv"]
    ordering = ["-created_at"]

    @admin.display(description=gettext_lazy("conditions"))
    def conditions_text(self, obj):
        return "; ".join(str(c) for c in obj.conditions.all()) or _("every member")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("conditions")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "builder_fields": builder_fields(),
            "builder_text": builder_text(),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        segment_conditions_replace(
            segment=form.instance, conditions=form.cleaned_data["definition"]
        )

    def get_urls(self):
        return [
            path(
                "count/",
                self.admin_site.admin_view(self.count_view),
                name="campaigns_segment_count",
            ),
            *super().get_urls(),
        ]

    def count_view(self, request):
        """The builder's live count: members, reachable by e-mail and by text message.
        POST (the definition can be long); reads only."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return _count(request)

    @admin.display(description=gettext_lazy("first members"))
    def preview(self, obj):
        if not obj.pk:
            return "-"
        try:
            rows = segment_members(obj).order_by("pk")[:20]
            return format_html_join(
                "",
                "<div>{} — {} {} ({})</div>",
                ((m.member_number, m.first_name, m.last_name, m.email) for m in rows),
            ) or _("none")
        except DomainError as exc:
            return exc.message

    @admin.action(description=gettext_lazy("Export members as CSV"))
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
        with replica_reads():  # a big read: the replica's, if there is one and it is current
            alias = reading_alias()
        try:
            rows = segment_members(segment).using(alias).order_by("pk").values_list(*header)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        # The shared writer: members write their own names, so text cells that a
        # spreadsheet would run as a formula are neutralised; UTF-8 with a BOM.
        return csv_response(f"segment-{segment.pk}.csv", header, rows.iterator(chunk_size=5000))


@require_POST
def _count(request):
    try:
        conditions = conditions_from_json(request.POST.get("definition", ""))
        with transaction.atomic():
            reach = segment_reach(conditions)
    except DomainError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    return JsonResponse(reach)
