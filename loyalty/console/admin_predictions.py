"""The predictions in the console: the ambassador candidates (read-only).

Members with the highest 12-month CLV who are not on an invite-only tier yet, with their
advocacy beside it: the actions they were rewarded for in the last 12 months (reviews,
social, events, UGC) and the friends they brought who bought. The list reads the
predictions' CLV index in order; the advocacy counts are subqueries evaluated for the
page's rows only."""

from datetime import timedelta

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from loyalty.kernel.admin_tools import EstimatedCountPaginator
from members.models import AmbassadorCandidate, LedgerEntry, Member


def _count(qs) -> Coalesce:
    return Coalesce(Subquery(qs, output_field=IntegerField()), 0)


@admin.register(AmbassadorCandidate)
class AmbassadorCandidateAdmin(admin.ModelAdmin):
    list_display = [
        "member_link",
        "tier",
        "clv",
        "chance_active",
        "order_days",
        "actions_12m",
        "referrals",
    ]
    list_display_links = None  # the member's own page is the link
    list_select_related = ["member__status__tier"]
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-clv_12m_eur", "member_id"]
    search_fields = ["member__member_number"]

    @admin.display(description=_("order days"), ordering="orders")
    def order_days(self, obj):
        return obj.orders

    def get_queryset(self, request):
        since = timezone.now() - timedelta(days=365)
        actions = (
            LedgerEntry.objects.filter(
                member=OuterRef("member_id"), kind=LedgerEntry.Kind.ACTION, occurred_at__gte=since
            )
            .values("member")
            .annotate(n=Count("pk"))
            .values("n")
        )
        referrals = (
            Member.objects.filter(referred_by=OuterRef("member_id"), purchase_count__gt=0)
            .values("referred_by")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .filter(member__erased_at__isnull=True)
            .exclude(Q(member__status__tier__invite_only=True))
            .annotate(actions=_count(actions), referred=_count(referrals))
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("member"))
    def member_link(self, obj):
        m = obj.member
        url = reverse("admin:members_member_change", args=[m.pk])
        return format_html('<a href="{}">{}</a> {}', url, m.member_number, m.full_name)

    @admin.display(description=_("tier"))
    def tier(self, obj):
        status = getattr(obj.member, "status", None)
        return status.tier.name if status else "-"

    @admin.display(description=_("expected spend, 12 months"), ordering="-clv_12m_eur")
    def clv(self, obj):
        return f"€ {obj.clv_12m_eur:,.2f}"

    @admin.display(description=_("chance still active"), ordering="p_alive")
    def chance_active(self, obj):
        return f"{obj.p_alive:.0%}"

    @admin.display(description=_("advocacy, 12 months"), ordering="actions")
    def actions_12m(self, obj):
        return obj.actions

    @admin.display(description=_("friends who bought"), ordering="referred")
    def referrals(self, obj):
        return obj.referred
