"""The CRM console: the admin site composes every app. Its start page is the KPI
dashboard (loyalty.console.dashboard). The member page is the single customer view: profile,
consents, tier and its history, ledger, purchases and returns across channels, vouchers,
clubs, messages sent and referrals, each section one query (no N+1)."""

import django_celery_beat.admin  # noqa: F401
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Subquery
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

import campaigns.admin  # noqa: F401 - registered before superuser_delete_only below
import tiers.admin  # noqa: F401
from campaigns.models import ClubMembership, MessageLog, Voucher
from loyalty.console import dashboard, uplift_view
from loyalty.console.member360 import Member360
from loyalty.console.privacy import member_erase_all
from loyalty.kernel.admin_tools import (
    EstimatedCountPaginator,
    ReadOnlyInline,
    superuser_delete_only,
)
from loyalty.kernel.errors import DomainError
from loyalty.kernel.roles import SUPERUSER_DELETE_ONLY
from members import profile
from members.admin import AdjustForm, ConsentFilter, ConsentInline, LedgerInline
from members.models import ErasureRecord, Member
from members.selectors import member_search
from members.services import ledger_adjust
from pos.admin_catalog import QuestionnaireAnswerInline
from pos.models import Purchase, Return
from tiers.models import Tier, TierChange
from tiers.services import invitation_send, tier_invite, tier_revoke


def _day(moment) -> str:
    return timezone.localtime(moment).strftime("%d %b %Y")


admin.site.site_header = "Carat — CRM console"
admin.site.site_title = "Carat"
admin.site.index_title = "Diamond Club"
dashboard.install(admin.site)
uplift_view.install(admin.site)

# The ledger, the message log, the tier history and the periodic tasks are deleted by a
# superuser only (loyalty.kernel.roles); the admins of those models are registered by now (the
# imports above; the console is the last app).
superuser_delete_only(admin.site, SUPERUSER_DELETE_ONLY)


class RecentOnly:
    """A history inline that shows the member's latest `limit` rows (a long-standing
    member can have thousands); the full list is one click away in its own changelist."""

    limit = 50
    order_by: tuple[str, ...] = ("-id",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        match = getattr(request, "resolver_match", None)
        object_id = match.kwargs.get("object_id") if match else None
        if object_id is None:
            return qs
        fk = self.fk_name or "member"
        latest = (
            self.model._default_manager.filter(**{f"{fk}_id": object_id})
            .order_by(*self.order_by)
            .values("pk")[: self.limit]
        )
        return qs.filter(pk__in=Subquery(latest)).order_by(*self.order_by)


class MemberLedgerInline(RecentOnly, LedgerInline):
    limit = 100
    order_by = ("-created_at", "-id")
    verbose_name_plural = _("ledger (latest 100 entries)")


class TierChangeInline(RecentOnly, ReadOnlyInline, admin.TabularInline):
    model = TierChange
    fk_name = "member"
    fields = ["changed_at", "from_tier", "to_tier", "reason", "note", "actor"]
    readonly_fields = fields
    order_by = ("-changed_at", "-id")
    verbose_name_plural = _("tier history (latest 50)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_tier", "to_tier", "actor")


class VoucherInline(RecentOnly, ReadOnlyInline, admin.TabularInline):
    model = Voucher
    fields = [
        "issued_at",
        "code",
        "title",
        "source",
        "cost_carats",
        "status",
        "valid_until",
        "used_at",
        "used_where",
    ]
    readonly_fields = fields
    order_by = ("-issued_at", "-id")
    verbose_name_plural = _("vouchers (latest 50)")


class ClubMembershipInline(RecentOnly, ReadOnlyInline, admin.TabularInline):
    model = ClubMembership
    fields = ["club", "started_at", "ends_at", "carats_paid", "reminded_at"]
    readonly_fields = fields
    order_by = ("-ends_at", "-id")
    verbose_name_plural = _("club memberships")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("club")


class MessageInline(RecentOnly, ReadOnlyInline, admin.TabularInline):
    model = MessageLog
    fields = [
        "due_at",
        "trigger",
        "subject",
        "status",
        "sent_at",
        "delivery",
        "opened_at",
        "clicked_at",
    ]
    readonly_fields = fields
    order_by = ("-created_at", "-id")
    verbose_name = "message"
    verbose_name_plural = _("messages (latest 50)")


class ReferralInline(RecentOnly, ReadOnlyInline, admin.TabularInline):
    """The friends this member brought in, and whether they bought."""

    model = Member
    fk_name = "referred_by"
    fields = ["member_number", "email", "joined_at", "first_purchase_at", "purchase_count"]
    readonly_fields = fields
    order_by = ("-joined_at", "-id")
    show_change_link = True
    verbose_name = "referred friend"
    verbose_name_plural = _("referrals (friends this member brought in)")


class ErasureInline(ReadOnlyInline, admin.TabularInline):
    """Who erased this member's personal data, when and why (kept after the erasure)."""

    model = ErasureRecord
    fields = ["erased_at", "source", "reason", "actor_email", "carats_written_off"]
    readonly_fields = fields
    verbose_name = "erasure"
    verbose_name_plural = _("erasure (who, when, why)")


class PurchaseInline(RecentOnly, ReadOnlyInline, admin.TabularInline):
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
    order_by = ("-occurred_at", "-id")
    limit = 100
    show_change_link = True
    verbose_name_plural = _("purchases, all channels (latest 100)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store")


class InviteForm(forms.Form):
    tier = forms.ModelChoiceField(queryset=Tier.objects.filter(invite_only=True))
    note = forms.CharField(max_length=200, help_text="Why: recorded in the tier history.")


class ErasureRequestForm(forms.Form):
    note = forms.CharField(
        label="Reason",
        max_length=255,
        help_text="Why: the request (date, channel, reference). Recorded with your name in "
        "the erasure record, which is kept.",
    )
    confirm = forms.BooleanField(help_text="Names, e-mail, phone and dates are erased for good.")


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
class MemberAdmin(Member360, admin.ModelAdmin):
    # Fits a 1440 px screen with the menu and the filters: one name column, dates without
    # times, the source as a filter only.
    list_display = [
        "member_number",
        "name",
        "email",
        "tier_name",
        "balance",
        "purchase_count",
        "last_purchase",
    ]
    list_select_related = ["status__tier"]
    list_filter = [TierFilter, "source", ConsentFilter]
    search_fields = ["member_number"]  # the real search is get_search_results, on indexes
    search_help_text = "Member number, exact e-mail, phone (+32…), or the start of a name."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ["-joined_at"]
    # `user` is the member's login: read-only here, so nobody in the console can point a
    # member at someone else's login (or a staff login) and read or act as them.
    readonly_fields = [
        "user",
        "member_number",
        "current_tier",
        "referred_by_link",
        "returns_overview",
        "balance",
        "qr_rotated_at",
        "first_purchase_at",
        "last_purchase_at",
        "purchase_count",
        "lifetime_spend_eur",
        "email_opt_in_at",
        "sms_opt_in_at",
        "email_delivery",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        # The profile's sections (members.profile), the login after the identity.
        (None, {"fields": [*profile.names(section="identity"), "user"]}),
        ("Profile", {"fields": list(profile.names(section="profile"))}),
        ("Consents", {"fields": [*profile.names(section="consent"), "email_delivery"]}),
        ("Tier", {"fields": ["current_tier", "referred_by_link"]}),
        (
            "Carats and purchases",
            {
                "fields": [
                    "balance",
                    "purchase_count",
                    "lifetime_spend_eur",
                    "first_purchase_at",
                    "last_purchase_at",
                    "returns_overview",
                ]
            },
        ),
        ("Codes", {"fields": ["referral_code", "qr_rotated_at"], "classes": ["collapse"]}),
    ]
    inlines = [
        MemberLedgerInline,
        PurchaseInline,
        TierChangeInline,
        VoucherInline,
        ClubMembershipInline,
        MessageInline,
        ReferralInline,
        ConsentInline,
        QuestionnaireAnswerInline,
        ErasureInline,
    ]
    actions = [
        "adjust_carats",
        "send_invitation",
        "invite_to_tier",
        "revoke_invitation",
        "erase_personal_data",
    ]

    @admin.display(description="e-mail delivery")
    def email_delivery(self, obj):
        """What the mail provider reported (a bounce or a complaint stops every mail)."""
        if obj.email_undeliverable_at is None:
            return "deliverable"
        return format_html(
            '<strong style="color:#b00">undeliverable since {}</strong>: {}',
            obj.email_undeliverable_at.strftime("%Y-%m-%d %H:%M"),
            obj.email_undeliverable_reason or "-",
        )

    @admin.display(description=_("name"), ordering="last_name")
    def name(self, obj):
        return obj.full_name or "-"

    @admin.display(description=_("last purchase"), ordering="last_purchase_at")
    def last_purchase(self, obj):
        return _day(obj.last_purchase_at) if obj.last_purchase_at else "-"

    @admin.display(description=_("tier"), ordering="status__tier__rank")
    def tier_name(self, obj):
        status = getattr(obj, "status", None)
        return status.tier.name if status else "-"

    @admin.display(description="current tier")
    def current_tier(self, obj):
        status = getattr(obj, "status", None)
        if status is None:
            return "-"
        return format_html(
            "<strong>{}</strong> since {}; no automatic downgrade before {}",
            status.tier.name,
            _day(status.reached_at),
            _day(status.hold_until),
        )

    @admin.display(description="referred by")
    def referred_by_link(self, obj):
        if obj.referred_by is None:
            return "-"
        url = reverse("admin:members_member_change", args=[obj.referred_by_id])
        return format_html('<a href="{}">{}</a>', url, obj.referred_by)

    @admin.display(description="returns")
    def returns_overview(self, obj):
        """The member's returns across channels, with the sale each belongs to."""
        if obj.pk is None:
            return "-"
        returns = (
            Return.objects.filter(purchase__member=obj)
            .select_related("purchase__store")
            .order_by("-occurred_at", "-id")[:100]
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{} {}</td><td>{} EUR</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(r.occurred_at).strftime("%Y-%m-%d %H:%M"),
                    r.return_id,
                    r.purchase.receipt_id,
                    r.purchase.store.name if r.purchase.store else r.purchase.channel,
                    r.amount,
                    r.purchase.currency,
                    r.amount_eur,
                    r.carats_reversed,
                    r.carats_unrecovered,
                )
                for r in returns
            ),
        )
        if not rows:
            return "No returns."
        return format_html(
            '<table class="member-returns"><thead><tr><th>When</th><th>Return</th>'
            "<th>Sale</th><th>Where</th><th>Amount</th><th>EUR</th>"
            "<th>Carats taken back</th><th>Unrecovered</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    def get_object(self, request, object_id, from_field=None):
        """The change page's member with its tier, login and referrer in one query
        (Django's own get_object, on a queryset with select_related)."""
        queryset = self.get_queryset(request).select_related("status__tier", "user", "referred_by")
        model = queryset.model
        field = model._meta.pk if from_field is None else model._meta.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (model.DoesNotExist, ValidationError, ValueError):
            return None

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

    @admin.action(description="Erase personal data on request (GDPR)")
    def erase_personal_data(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            form_class=ErasureRequestForm,
            action="erase_personal_data",
            title="Erase personal data",
            apply=lambda m, d: member_erase_all(
                member=m, source="console", reason=d["note"], actor=request.user
            ),
        )
