from django.contrib import admin
from django.utils.translation import gettext as _

from loyalty.kernel.admin_tools import (
    EstimatedCountPaginator,
    ReadOnlyAdmin,
    TranslatedContentAdmin,
)

from .models import Invitation, MemberTier, Tier, TierChange
from .selectors import tiers_in_use


@admin.register(Tier)
class TierAdmin(TranslatedContentAdmin):
    translated = ("name", "benefits")
    list_display = [
        "name",
        "code",
        "rank",
        "threshold",
        "discount_percent",
        "earn_multiplier",
        "public",
        "invite_only",
    ]
    list_editable = ["threshold", "discount_percent", "earn_multiplier"]
    prepopulated_fields = {"code": ["name"]}

    def get_deleted_objects(self, objs, request):
        """A tier in use is protected, for the delete page and the "delete selected"
        action alike (both show the protected list and delete nothing)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        tiers = list(objs)
        usage = tiers_in_use(t.pk for t in tiers)
        protected = list(protected) + [
            _("%(tier)s (in use: %(what)s)") % {"tier": t, "what": ", ".join(usage[t.pk])}
            for t in tiers
            if t.pk in usage
        ]
        return deleted, counts, perms_needed, protected


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "member", "from_tier", "to_tier", "reason", "actor", "note"]
    list_filter = ["reason", "to_tier"]
    list_select_related = ["member", "from_tier", "to_tier", "actor"]
    raw_id_fields = ["member", "actor"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(MemberTier)
class MemberTierAdmin(admin.ModelAdmin):
    list_display = ["member", "tier", "reached_at", "hold_until"]
    list_filter = ["tier"]
    list_select_related = ["member", "tier"]
    raw_id_fields = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # tiers move through services: upgrades, nightly job, invitations

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "member",
        "tier",
        "invited_by",
        "expires_at",
        "accepted_at",
        "note",
    ]
    list_select_related = ["member", "tier", "invited_by"]
    raw_id_fields = ["member"]
    ordering = ["-created_at"]

    def has_add_permission(self, request):
        return False  # sent from the member list (action "Send a hidden-tier invitation")

    def has_change_permission(self, request, obj=None):
        return False
