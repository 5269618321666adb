"""The member 360's actions: adjust carats, invite to a hidden tier, mail the card again,
reset the login. Each is a small page of its own (GET: what it will do and a form; POST:
it does it) under the member's admin URL, calls one service, and says what happened.

Who: a console login that may change this member (`members.change_member`, as for the
edit form); the admin's own login and staff checks wrap every URL (admin_view).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.kernel.errors import DomainError
from members.admin import MAX_ADJUSTMENT
from members.models import Member
from members.services import ledger_adjust, member_card_mail, member_login_reset
from tiers.models import Tier
from tiers.services import invitation_send


class AdjustCaratsForm(forms.Form):
    # Bounded: a slip of the finger (or 10**20) is a clear message, not a 500 or a fortune.
    carats = forms.IntegerField(
        label=_("Carats"),
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
        help_text=_("Positive to give, negative to take back (at most 1,000,000 at a time)."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("Recorded in the ledger with your name, e.g. “goodwill: late delivery”."),
    )
    # Makes the adjustment idempotent: submitting the same form twice books it once.
    batch = forms.CharField(widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)

    def clean_carats(self):
        carats = self.cleaned_data["carats"]
        if carats == 0:
            raise forms.ValidationError(_("Give a number of carats other than 0."))
        return carats

    def clean_batch(self):
        batch = self.cleaned_data["batch"]
        if not (len(batch) == 32 and batch.isalnum()):
            raise forms.ValidationError(_("Open the form again."))
        return batch


class InviteForm(forms.Form):
    tier = forms.ModelChoiceField(
        label=_("Tier"), queryset=Tier.objects.filter(invite_only=True).order_by("rank")
    )
    note = forms.CharField(
        label=_("Why"), max_length=200, help_text=_("Recorded in the tier history.")
    )


class ConfirmForm(forms.Form):
    """Nothing to fill in: the button is the confirmation."""


@dataclass(frozen=True)
class Action:
    slug: str
    title: str
    explain: str
    form: type[forms.Form]
    apply: Callable  # (request, member, cleaned_data) -> the confirmation message


def _adjust(request, member: Member, data) -> str:
    posting = ledger_adjust(
        member=member,
        carats=data["carats"],
        reason=data["reason"],
        actor=request.user,
        key=f"adjust:{data['batch']}:{member.pk}",
    )
    entry = posting.entry
    return gettext(
        "%(carats)+d carats for %(member)s (“%(reason)s”); the balance is now %(balance)s."
    ) % {
        "carats": entry.carats,
        "member": member,
        "reason": entry.reason,
        "balance": f"{entry.balance_after:,}",
    }


def _invite(request, member: Member, data) -> str:
    tier = data["tier"]
    status = getattr(member, "status", None)
    if status is not None and status.tier_id == tier.pk:
        raise DomainError(
            gettext("%(member)s is already %(tier)s.") % {"member": member, "tier": tier}
        )
    if member.erased_at is not None:
        raise DomainError(gettext("This member's personal data is erased."))
    invitation = invitation_send(member=member, tier=tier, actor=request.user, note=data["note"])
    return gettext(
        "Invitation to %(tier)s e-mailed to %(email)s; the link works until %(until)s."
    ) % {
        "tier": tier,
        "email": member.email,
        "until": invitation.expires_at.date().isoformat(),
    }


def _send_card(request, member: Member, data) -> str:
    if not member_card_mail(member=member):
        raise DomainError(gettext("Enough cards went to this member this hour; try later."))
    return gettext("The card (QR code and member number) is on its way to %(email)s.") % {
        "email": member.email
    }


def _reset_login(request, member: Member, data) -> str:
    kind = member_login_reset(member=member)
    if kind == "invite":
        return gettext(
            "%(member)s had no web login: an invitation to choose a password went to %(email)s."
        ) % {"member": member, "email": member.email}
    return gettext("A link to choose a new password went to %(email)s.") % {"email": member.email}


ACTIONS = {
    a.slug: a
    for a in (
        Action(
            "adjust",
            _("Adjust carats"),
            _("A correction in the ledger, with your name and the reason."),
            AdjustCaratsForm,
            _adjust,
        ),
        Action(
            "invite",
            _("Invite to Ambassador"),
            _("E-mails a one-time link; accepting it puts the member on the tier."),
            InviteForm,
            _invite,
        ),
        Action(
            "send-card",
            _("Resend the card"),
            _("E-mails the member's QR code and member number again."),
            ConfirmForm,
            _send_card,
        ),
        Action(
            "reset-login",
            _("Reset the login"),
            _(
                "E-mails a link to choose a new password (an invitation to open the "
                "account if the member has no login yet). The old password works until then."
            ),
            ConfirmForm,
            _reset_login,
        ),
    )
}


class Member360Actions:
    """Mixed into the member's ModelAdmin: the actions' URLs and pages."""

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/do/<slug:action>/",
                self.admin_site.admin_view(self.member_action_view),
                name="members_member_action",
            )
        ]
        return urls + super().get_urls()

    def member_action_view(self, request, object_id, action):
        spec = ACTIONS.get(action)
        member = self.get_object(request, object_id)
        if spec is None or member is None:
            raise Http404
        if not self.has_change_permission(request, member):
            raise PermissionDenied
        status = 200
        if request.method == "POST":
            form = spec.form(request.POST)
            if form.is_valid():
                try:
                    done = spec.apply(request, member, form.cleaned_data)
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.message_user(request, done, messages.SUCCESS)
                    return redirect(reverse("admin:members_member_change", args=[member.pk]))
            status = 400
        else:
            form = spec.form()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": member,
            "title": f"{spec.title}: {member}",
            "action": spec,
            "form": form,
            "member": member,
        }
        return TemplateResponse(request, "admin/members/member/action.html", context, status=status)
