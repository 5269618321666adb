"""Forms of the client book and the appointments: shape and pre-check only."""

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.kernel.widgets import IsoDateInput

from ..forms import _PosForm
from .models import Appointment
from .services import DURATIONS

_TEXT = {"autocomplete": "off"}


class NoteForm(_PosForm):
    text = forms.CharField(
        label=_("Note"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, **_TEXT}),
    )
    follow_up_on = forms.DateField(
        label=_("Follow up on"),
        required=False,
        widget=IsoDateInput,
    )


class ProfileForm(_PosForm):
    metals = forms.CharField(label=_("Metals"), max_length=120, required=False)
    stones = forms.CharField(label=_("Stones"), max_length=120, required=False)
    style = forms.CharField(label=_("Style"), max_length=120, required=False)
    ring_size = forms.CharField(label=_("Ring size"), max_length=16, required=False)
    bracelet_size = forms.CharField(label=_("Bracelet size"), max_length=16, required=False)
    partner_name = forms.CharField(label=_("Partner's name"), max_length=80, required=False)
    partner_birthday = forms.DateField(
        label=_("Partner's birthday"),
        required=False,
        widget=IsoDateInput,
    )
    associate = forms.TypedChoiceField(
        label=_("Client's associate"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, *args, associates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["associate"].choices = [("", _("No one yet"))] + [
            (u.pk, u.get_full_name()) for u in associates
        ]
        for name, field in self.fields.items():
            if name != "associate" and isinstance(field.widget, forms.TextInput):
                field.widget.attrs.update(_TEXT)


class WishForm(_PosForm):
    description = forms.CharField(label=_("Piece"), max_length=160)
    sku = forms.CharField(label=_("Reference"), max_length=64, required=False)


class AppointmentForm(_PosForm):
    day = forms.DateField(label=_("Date"), widget=IsoDateInput)
    time = forms.TimeField(label=_("Time"))
    minutes = forms.TypedChoiceField(label=_("Duration"), coerce=int)
    associate = forms.TypedChoiceField(label=_("Associate"), coerce=int)
    purpose = forms.ChoiceField(label=_("For"), choices=Appointment.Purpose.choices)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, associates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["associate"].choices = [(u.pk, u.get_full_name()) for u in associates]
        self.fields["minutes"].choices = [(m, _("%(n)s minutes") % {"n": m}) for m in DURATIONS]
        times = [f"{h:02d}:{m:02d}" for h in range(8, 21) for m in (0, 15, 30, 45)]
        self.fields["time"].widget = forms.Select(choices=[(t, t) for t in times])


class ContactForm(_PosForm):
    channel = forms.ChoiceField(label=_("How"), choices=())
    reason = forms.CharField(required=False, max_length=24, widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("What was said"),
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2, **_TEXT}),
    )
    subject = forms.CharField(label=_("E-mail subject"), required=False, max_length=200)
    body = forms.CharField(
        label=_("E-mail text"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 6, **_TEXT}),
    )

    def __init__(self, *args, **kwargs):
        from .models import ClientContact

        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [
            (ClientContact.Channel.CALL, _("Call")),
            (ClientContact.Channel.MESSAGE, _("Message (text, WhatsApp)")),
            (ClientContact.Channel.EMAIL, _("E-mail")),
        ]
        self.fields["subject"].widget.attrs.update(_TEXT)
