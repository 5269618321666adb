from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordResetForm
from django.utils.translation import gettext_lazy as _

from loyalty.kernel.security import FailureThrottle, client_ip, rate_allow
from loyalty.kernel.validators import validate_email_address
from loyalty.kernel.widgets import IsoDateInput as DateInput

from . import profile
from .models import User
from .selectors import account_open_to_member_pages
from .services import account_mail_allowed


def _label(name: str) -> str:
    return profile.FIELDS[name].label


class SignupForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=80)
    last_name = forms.CharField(label=_("Last name"), max_length=80)
    email = forms.EmailField(label=_("E-mail"), validators=[validate_email_address])
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
        label=_("Yes, send me news, invitations and gifts by e-mail"),
        required=False,
        help_text=_("We will e-mail you a link to confirm it."),
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
    """The fields the member may change themselves (members.profile), then the consents."""

    field_order = [*profile.names(member_edits=True), "email_opt_in", "sms_opt_in"]
    first_name = forms.CharField(label=_label("first_name"), max_length=80)
    last_name = forms.CharField(label=_label("last_name"), max_length=80)
    phone = forms.CharField(label=_label("phone"), max_length=32, required=False)
    birth_date = forms.DateField(label=_label("birth_date"), required=False, widget=DateInput)
    wedding_anniversary = forms.DateField(
        label=_label("wedding_anniversary"), required=False, widget=DateInput
    )
    language = forms.ChoiceField(label=_label("language"), choices=settings.LANGUAGES)
    email_opt_in = forms.BooleanField(label=_label("email_opt_in"), required=False)
    sms_opt_in = forms.BooleanField(label=_label("sms_opt_in"), required=False)

    def clean_phone(self):
        phone = self.cleaned_data["phone"].replace(" ", "")
        if phone and not (phone.lstrip("+").isdigit() and 6 <= len(phone) <= 20):
            raise forms.ValidationError(_("Enter a phone number, e.g. +32 470 12 34 56."))
        return phone


class MemberPasswordResetForm(PasswordResetForm):
    """Mails a link to a member's login that is active, or that was never opened (a member
    invited at the counter or by the web shop: the link proves the address). Never to a
    deactivated or a staff login (account_open_to_member_pages). At most
    CARAT_ACCOUNT_MAILS_PER_HOUR mails per address (shared with the other account mails)
    and ten times that per client address. The page answers the same in every case."""

    def get_users(self, email):
        for user in User.objects.filter(email__iexact=email):
            if account_open_to_member_pages(user) and account_mail_allowed(user=user):
                yield user

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        """The reset mail in the brand's layout, with the program's name."""
        from django.template.loader import render_to_string
        from django.utils import translation

        from campaigns.mail.compose import program_mail
        from campaigns.services.earning import program

        member = getattr(context.get("user"), "member", None)
        if member is not None and member.email_undeliverable_at is not None:
            return
        language = member.language if member is not None else translation.get_language()
        context = {**context, "program": program().name}
        with translation.override(language):
            subject = "".join(render_to_string(subject_template_name, context).splitlines())
            body = render_to_string(email_template_name, context)
        program_mail(to=to_email, language=language, subject=subject, body=body).send()

    def save(self, *args, request=None, **kwargs):
        per_address = getattr(settings, "CARAT_ACCOUNT_MAILS_PER_HOUR", 5) * 10
        if request is not None and not rate_allow(
            f"reset-mail:ip:{client_ip(request)}", limit=per_address, window=3600
        ):
            return None
        return super().save(*args, request=request, **kwargs)


erasure_throttle = FailureThrottle("erasure")


class ErasureForm(forms.Form):
    """The member confirms the erasure with the password; guessing it is throttled like a
    login (per client address and account, growing delays)."""

    password = forms.CharField(
        label=_("Your password, to confirm"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm = forms.BooleanField(
        label=_("I understand: my personal data is erased and my carats are lost."),
    )

    def __init__(self, request, *args, **kwargs):
        self.request = request
        self.user = request.user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        account = f"user:{self.user.pk}"
        if erasure_throttle.blocked(self.request, account):
            raise forms.ValidationError(
                _("Too many wrong passwords. Wait a few minutes and try again.")
            )
        if not self.user.check_password(self.cleaned_data["password"]):
            erasure_throttle.failed(self.request, account)
            raise forms.ValidationError(_("This is not your password."))
        erasure_throttle.succeeded(self.request, account)
        return self.cleaned_data["password"]
