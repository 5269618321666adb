"""The member 360: the member's page in the console opens on a summary (value, orders,
tier and progress, last visit, favourite store, consents, vouchers, clubs, messages, a
slot for predictions) with the actions marketing takes, and the details in tabs below
(the edit form is one of them). See summary.py (the reads) and actions.py (the writes)."""

from django.utils.translation import gettext_lazy as _

from .actions import ACTIONS, Member360Actions
from .summary import MemberSummary, member_predictions, member_summary


class Member360(Member360Actions):
    """Mixed into the member's ModelAdmin (loyalty/console/admin.py)."""

    change_form_template = "admin/members/member/change_form.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": _("Members"), **(extra_context or {})})

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            context["summary"] = member_summary(obj)
            # The page's heading is the member, not "Change member" and the number again.
            context["title"] = obj.full_name or obj.email
            context["subtitle"] = None
            context["member_actions"] = (
                list(ACTIONS.values()) if self.has_change_permission(request, obj) else []
            )
        return super().render_change_form(request, context, add, change, form_url, obj)


__all__ = ["ACTIONS", "Member360", "MemberSummary", "member_predictions", "member_summary"]
