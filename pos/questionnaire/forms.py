"""The questionnaire's form: bounded choices and ISO dates, labels in the member's
language."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.kernel.widgets import IsoDateInput

from .models import RING_SIZES, QuestionnaireAnswer

EARLIEST = date(1900, 1, 1)

SATISFACTION = [
    ("5", _("5 — delighted")),
    ("4", _("4 — happy")),
    ("3", _("3 — fine")),
    ("2", _("2 — disappointed")),
    ("1", _("1 — unhappy")),
]


def _optional(choices, empty):
    return [("", empty), *choices]


class QuestionnaireForm(forms.Form):
    satisfaction = forms.TypedChoiceField(
        label=_("How happy are you with your purchase?"),
        choices=SATISFACTION,
        coerce=int,
        widget=forms.RadioSelect,
    )
    bought_for = forms.ChoiceField(
        label=_("Did you buy it for yourself or as a gift?"),
        choices=QuestionnaireAnswer.BoughtFor.choices,
        widget=forms.RadioSelect,
    )
    metal = forms.ChoiceField(
        label=_("Your favourite metal"),
        choices=_optional(QuestionnaireAnswer.Metal.choices, _("no preference")),
        required=False,
    )
    stone = forms.ChoiceField(
        label=_("Your favourite stones"),
        choices=_optional(QuestionnaireAnswer.Stone.choices, _("no preference")),
        required=False,
    )
    style = forms.ChoiceField(
        label=_("Your style"),
        choices=_optional(QuestionnaireAnswer.Style.choices, _("no preference")),
        required=False,
    )
    ring_size = forms.TypedChoiceField(
        label=_("Your ring size"),
        choices=_optional([(str(s), str(s)) for s in RING_SIZES], _("I don't know")),
        coerce=int,
        empty_value=None,
        required=False,
    )
    partner_birthday = forms.DateField(
        label=_("Your partner's birthday"),
        required=False,
        widget=IsoDateInput(),
        input_formats=["%Y-%m-%d"],
    )
    wedding_anniversary = forms.DateField(
        label=_("Your wedding anniversary"),
        required=False,
        widget=IsoDateInput(),
        input_formats=["%Y-%m-%d"],
    )

    def _past_date(self, name):
        value = self.cleaned_data.get(name)
        if value is not None and not EARLIEST <= value <= timezone.localdate():
            raise forms.ValidationError(_("Please enter a date between 1900 and today."))
        return value

    def clean_partner_birthday(self):
        return self._past_date("partner_birthday")

    def clean_wedding_anniversary(self):
        value = self.cleaned_data.get("wedding_anniversary")
        # A wedding to come (planned) is fine, up to two years ahead.
        latest = timezone.localdate() + timedelta(days=730)
        if value is not None and not EARLIEST <= value <= latest:
            raise forms.ValidationError(
                _("Please enter a date between 1900 and two years from now.")
            )
        return value
