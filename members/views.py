"""The member's web account: thin views over members/tiers/campaigns services."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, get_random_string, salted_hmac
from django.utils.encoding import force_str
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from campaigns.models import Club, Reward
from campaigns.services import (
    challenges_for_member,
    club_join,
    clubs_for_member,
    member_profile_rewards,
    member_signup_online,
    reward_redeem,
    rewards_for_member,
)
from loyalty.console.privacy import member_erase_all, member_export
from loyalty.kernel.errors import DomainError
from loyalty.kernel.security import set_language_cookie
from loyalty.kernel.translated import localized
from pos.services.counter_join import counter_join_record, join_link_read
from tiers.selectors import member_progress
from tiers.services import invitation_accept

from .activity import activity_line, activity_lines
from .consent import email_consent_confirm, email_consent_member, email_consent_request
from .forms import ErasureForm, MemberPasswordResetForm, ProfileForm, SignupForm
from .models import Member, User
from .qr import qr_svg
from .selectors import account_open_to_member_pages, ledger_for_member
from .services import account_activate, member_rotate_qr, member_update


def _member_or_none(request) -> Member | None:
    """The signed-in member, whose profile language is the page's language (one setting:
    the footer's switch changes the profile, see `language`)."""
    member = Member.objects.filter(user=request.user).first()
    if member is not None and member.language in dict(settings.LANGUAGES):
        translation.activate(member.language)
        request.LANGUAGE_CODE = member.language
    return member


@require_POST
def language(request):
    """The footer's language switch. For a member it is the profile's language (the pages,
    the mails and the wallet card follow it); for a visitor, the cookie alone."""
    code = request.POST.get("language", "")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("members:home")
    response = redirect(target)
    if code not in dict(settings.LANGUAGES):
        return response
    member = _member_or_none(request) if request.user.is_authenticated else None
    if member is not None and member.language != code:
        member_update(member=member, source="account", language=code)
    set_language_cookie(response, code)
    return response


def _no_membership(request):
    return render(request, "members/no_membership.html", status=403)


# The browser that chose the password at sign-up: only there does the verification link
# open the login with that password (see verify).
SIGNUP_SESSION_KEY = "members.signup"


def _signup_binding(user: User) -> str:
    """Ties a sign-up to the login it created and the password chosen then."""
    return salted_hmac("members.signup", f"{user.pk}:{user.password}").hexdigest()


def signup(request):
    return _signup(request, link=None)


def join_at_store(request, token):
    """The sign-up page opened from a boutique's join QR code (on the member's own phone):
    the store and the shop assistant are recorded on the new member. A tampered or
    expired link gets a page that says so."""
    try:
        link = join_link_read(token)
    except DomainError as exc:
        return render(
            request,
            "members/join_link_failed.html",
            {"message": exc.message, "expired": exc.code == "join_link_expired"},
            status=exc.status,
        )
    return _signup(request, link=link)


def _signup(request, *, link):
    if request.user.is_authenticated and _member_or_none(request):
        return redirect("members:home")
    form = SignupForm(request.POST or None, initial={"referral_code": request.GET.get("ref", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                result = member_signup_online(
                    email=data["email"],
                    password=data["password"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    birth_date=data["birth_date"],
                    language=request.LANGUAGE_CODE,
                    # Double opt-in: the consent waits for the mailed link (below).
                    email_opt_in=False,
                    sms_opt_in=data["sms_opt_in"],
                    referral_code=data["referral_code"],
                )
                member = Member.objects.filter(user=result.user).first() if result.user else None
                if member is not None and link is not None:
                    counter_join_record(member=member, link=link)
                if member is not None and data["email_opt_in"]:
                    email_consent_request(member=member)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            # The same answer whether or not the address was known (a taken one only
            # mails its owner), so the page does not tell who is a member.
            request.session[SIGNUP_SESSION_KEY] = (
                _signup_binding(result.user) if result.user else get_random_string(64)
            )
            return render(
                request,
                "members/signup_done.html",
                {"email": data["email"], "consent_asked": data["email_opt_in"], "link": link},
            )
    return render(request, "members/signup.html", {"form": form, "link": link})


@never_cache
def consent_confirm(request, token):
    """The link of the double opt-in mail: a page that asks, and the consent recorded when
    the owner confirms (a POST: a mail scanner following the link consents to nothing)."""
    try:
        member = email_consent_member(token)
        if member.language in dict(settings.LANGUAGES):
            translation.activate(member.language)
            request.LANGUAGE_CODE = member.language
        if request.method == "POST":
            email_consent_confirm(token=token)
            return render(request, "members/consent.html", {"member": member, "done": True})
    except DomainError as exc:
        return render(request, "members/consent.html", {"error": exc.message}, status=exc.status)
    return render(request, "members/consent.html", {"member": member, "token": token})


def verify(request, uidb64, token):
    """The link of the verification mail. It proves the address. It opens the login with
    the password chosen at sign-up only in the browser that chose it; anywhere else the
    owner chooses the password (the one typed at sign-up may have been a stranger's)."""
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if (
        user is None
        or not default_token_generator.check_token(user, token)
        or not user.pending_activation
        or not account_open_to_member_pages(user)
    ):
        return render(request, "members/verify_failed.html", status=400)
    if not constant_time_compare(
        request.session.get(SIGNUP_SESSION_KEY, ""), _signup_binding(user)
    ):
        messages.info(request, _("Your e-mail is confirmed. Choose your password to finish."))
        return redirect("members:password_reset_confirm", uidb64=uidb64, token=token)
    if not account_activate(user=user):
        return render(request, "members/verify_failed.html", status=400)
    request.session.pop(SIGNUP_SESSION_KEY, None)
    login(request, user, backend="loyalty.kernel.security.ThrottledModelBackend")
    messages.success(request, _("Your e-mail is confirmed. Welcome to the club!"))
    return redirect("members:home")


@never_cache
@login_required
def home(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    progress = member_progress(member)
    return render(
        request,
        "members/home.html",
        {
            "member": member,
            "progress": progress,
            "benefits": [b for b in localized(progress.tier, "benefits").splitlines() if b.strip()],
            "entries": activity_lines(ledger_for_member(member)[:8]),
            "challenges": challenges_for_member(member),
            "badges": member.badges.select_related("challenge").order_by("-earned_at"),
            "vouchers": _active_vouchers(member),
        },
    )


def _active_vouchers(member):
    """The vouchers the member can show at the till now (My card and Rewards)."""
    return (
        member.vouchers.filter(status="issued", valid_until__gt=timezone.now())
        .select_related("reward")
        .order_by("valid_until")
    )


@never_cache
@login_required
def qr_code(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    response = HttpResponse(qr_svg(member.qr_payload), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store, private"
    return response


@login_required
@require_POST
def rotate_qr(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    member_rotate_qr(member=member)
    messages.success(request, _("Here is your new QR code. The old one no longer works."))
    return redirect("members:home")


@never_cache
@login_required
def history(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    page = Paginator(ledger_for_member(member), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "members/history.html",
        {"member": member, "page": page, "entries": activity_lines(page.object_list)},
    )


@never_cache
@login_required
def profile(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    fields = list(ProfileForm.base_fields)
    form = ProfileForm(request.POST or None, initial={f: getattr(member, f) for f in fields})
    if request.method == "POST" and form.is_valid():
        try:
            member = member_update(member=member, source="account", **form.cleaned_data)
            translation.activate(member.language)  # the saved language speaks from now on
            for reward in member_profile_rewards(member=member):
                if reward.created:
                    why = activity_line(reward.entry_key) if reward.entry_key else None
                    messages.success(
                        request,
                        _("+%(n)s carats: %(why)s") % {"n": reward.carats, "why": why or ""},
                    )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Your profile is saved."))
            response = redirect("members:profile")
            set_language_cookie(response, member.language)
            return response
    return render(
        request,
        "members/profile.html",
        {"member": member, "form": form, "consents": member.consent_changes.all()[:10]},
    )


class LoginView(auth_views.LoginView):
    template_name = "members/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        """The pages speak the member's profile language from the log-in on."""
        response = super().form_valid(form)
        member = Member.objects.filter(user=form.get_user()).only("language").first()
        if member is not None and member.language in dict(settings.LANGUAGES):
            set_language_cookie(response, member.language)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    form_class = MemberPasswordResetForm
    template_name = "members/password_reset.html"
    email_template_name = "members/email/password_reset_body.txt"
    subject_template_name = "members/email/password_reset_subject.txt"
    success_url = reverse_lazy("members:password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The landing page of the reset, invitation and claim e-mails. Serves only a login
    the member pages may serve (account_open_to_member_pages): choosing a password here
    opens a member's login that was never opened -- it proves the address -- and never
    reopens one an administrator deactivated, nor touches a staff login."""

    template_name = "members/password_set.html"
    success_url = reverse_lazy("members:home")
    post_reset_login = True
    post_reset_login_backend = "loyalty.kernel.security.ThrottledModelBackend"

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if account_open_to_member_pages(user) else None

    @transaction.atomic
    def form_valid(self, form):
        # Re-read under a lock: a login deactivated since the page was shown stays closed.
        user = User.objects.select_for_update().filter(pk=form.user.pk).first()
        if not account_open_to_member_pages(user) or not account_activate(user=user):
            self.validlink = False
            return self.render_to_response(self.get_context_data(form=None))
        form.user = user
        return super().form_valid(form)


@never_cache
@login_required
def rewards(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    return render(
        request,
        "members/rewards.html",
        {
            "member": member,
            "rewards": rewards_for_member(member),
            "vouchers": _active_vouchers(member),
            "clubs": clubs_for_member(member),
            "memberships": member.club_memberships.select_related("club").filter(
                ends_at__gt=timezone.now()
            ),
            "referral_link": request.build_absolute_uri(
                reverse("members:signup") + f"?ref={member.referral_code}"
            ),
        },
    )


@login_required
@require_POST
def redeem(request, reward_id):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    reward = Reward.objects.filter(pk=reward_id).first()
    try:
        if reward is None:
            raise DomainError(_("This reward is not available."))
        voucher = reward_redeem(
            member=member,
            reward=reward,
            request_key=f"account:{member.pk}:{request.POST['request_key'][:64]}"
            if request.POST.get("request_key")
            else None,
        ).voucher
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Your voucher %(code)s is ready: show it at the till.") % {"code": voucher.code},
        )
    return redirect("members:rewards")


@login_required
@require_POST
def join_club(request, club_id):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    club = Club.objects.filter(pk=club_id).first()
    try:
        if club is None:
            raise DomainError(_("This club is not open to you."))
        membership = club_join(member=member, club=club)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Welcome to %(club)s until %(end)s.")
            % {
                "club": localized(club, "name"),
                "end": date_format(membership.ends_at, "DATE_FORMAT"),
            },
        )
    return redirect("members:rewards")


@never_cache
@login_required
def voucher_qr(request, code):
    member = _member_or_none(request)
    voucher = member and member.vouchers.filter(code=code).first()
    if voucher is None:
        raise Http404
    response = HttpResponse(qr_svg(voucher.code), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store, private"
    return response


@login_required
def invitation(request, token):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    if request.method == "POST":
        try:
            result = invitation_accept(token=token, member=member)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("Welcome to the %(tier)s circle.") % {"tier": localized(result.tier, "name")},
            )
        return redirect("members:home")
    pending = member.tier_invitations.select_related("tier").filter(token=token).first()
    if pending is None:
        raise Http404
    return render(request, "members/invitation.html", {"invitation": pending})


@never_cache
@login_required
def privacy(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    form = ErasureForm(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        member_erase_all(member=member, source="member")
        logout(request)
        return render(request, "members/erased.html")
    return render(request, "members/privacy.html", {"member": member, "form": form})


@never_cache
@login_required
def export(request):
    member = _member_or_none(request)
    if member is None:
        return _no_membership(request)
    response = JsonResponse(member_export(member), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="carat-{member.member_number}.json"'
    return response
