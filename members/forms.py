from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordResetForm
from django.utils.translation import gettext_lazy as _

from loyalty.widgets import IsoDateInput as DateInput

from .models import User


class SignupForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=80)
    last_name = forms.CharField(label=_("Last name"), max_length=80)
    email = forms.EmailField(label=_("E-mail"))
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits."),
    )
    birth_date = forms.DateField(
        label=_("Birth date (optional, for a birthday surprise)"),
        required=False,
        widget=DateInput,
    )
    email_opt_in = forms.BooleanField(
        label=_("Yes, send me news, invitations and gifts by e-mail"), required=False
    )
    sms_opt_in = forms.BooleanField(label=_("Yes, send me text messages"), required=False)
    referral_code = forms.CharField(
        label=_("Invited by a friend? Their code"), max_length=12, required=False
    )

    def clean_password(self):
        password = self.cleaned_data["password"]
        user = User(email=self.data.get("email", ""), full_name=self.data.get("first_name", ""))
        password_validation.validate_password(password, user)
        return password


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=80)
    last_name = forms.CharField(label=_("Last name"), max_length=80)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    birth_date = forms.DateField(label=_("Birth date"), required=False, widget=DateInput)
    wedding_anniversary = forms.DateField(
        label=_("Wedding anniversary"), required=False, widget=DateInput
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    email_opt_in = forms.BooleanField(label=_("Marketing e-mails"), required=False)
    sms_opt_in = forms.BooleanField(label=_("Text messages"), required=False)

    def clean_phone(self):
        phone = self.cleaned_data["phone"].replace(" ", "")
        if phone and not (phone.lstrip("+").isdigit() and 6 <= len(phone) <= 20):
            raise forms.ValidationError(_("Enter a phone number, e.g. +32 470 12 34 56."))
        return phone


class MemberPasswordResetForm(PasswordResetForm):
    """Also reaches members invited at the counter who never chose a password: the link
    proves they own the address."""

    def get_users(self, email):
        return User.objects.filter(email__iexact=email)


class ErasureForm(forms.Form):
    password = forms.CharField(
        label=_("Your password, to confirm"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm = forms.BooleanField(
        label=_("I understand: my personal data is erased and my carats are lost."),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        if not self.user.check_password(self.cleaned_data["password"]):
            raise forms.ValidationError(_("This is not your password."))
        return self.cleaned_data["password"]
