"""Account e-mails (verification, invitation). Transactional, not marketing: they are sent
whatever the marketing consent. The program's name and the branded layout come from the
edge that sends them (members.tasks passes them in: the brand lives in campaigns)."""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage, send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from .models import Member, User
from .qr import qr_png

TEMPLATES = {
    "verify": (
        "members/email/verify_subject.txt",
        "members/email/verify_body.txt",
        "members:verify",
    ),
    "invite": (
        "members/email/invite_subject.txt",
        "members/email/invite_body.txt",
        "members:password_reset_confirm",
    ),
    # The console's "reset the login": a link to choose a new password.
    "reset": (
        "members/email/reset_subject.txt",
        "members/email/reset_body.txt",
        "members:password_reset_confirm",
    ),
    # Someone joined on the web with the address of a member whose login was never opened.
    "claim": (
        "members/email/claim_subject.txt",
        "members/email/claim_body.txt",
        "members:password_reset_confirm",
    ),
    # Someone joined on the web with the address of a member who has an account.
    "existing": (
        "members/email/existing_subject.txt",
        "members/email/existing_body.txt",
        "members:password_reset_confirm",
    ),
}


def account_link(user: User, url_name: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.CARAT_SITE_URL.rstrip("/") + reverse(url_name, args=[uid, token])


def send_account_email_now(
    *,
    user_id: int,
    kind: str,
    program: str = "",
    send: Callable[..., object] | None = None,
) -> None:
    """`send(to=, language=, subject=, body=)` makes and sends the mail (the branded
    layout); without it, a plain-text mail."""
    user = User.objects.filter(pk=user_id).first()
    if user is None or kind not in TEMPLATES:
        return
    member = Member.objects.filter(user=user).first()
    if member is not None and member.email_undeliverable_at is not None:
        return  # the provider reported the address undeliverable (bounce, complaint)
    subject_t, body_t, url_name = TEMPLATES[kind]
    language = member.language if member else "en"
    with translation.override(language):
        context = {
            "user": user,
            "member": member,
            "link": account_link(user, url_name),
            "program": program,
        }
        subject = render_to_string(subject_t, context).strip()
        body = render_to_string(body_t, context)
    if send is not None:
        send(to=user.email, language=language, subject=subject, body=body)
    else:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])


def send_consent_email_now(
    *, member_id: int, program: str = "", send: Callable[..., object] | None = None
) -> None:
    """The double opt-in mail: a link to confirm the marketing e-mails (see
    members.consent). Nothing when the member consents already, is gone, or the address
    was reported undeliverable. `send` as for the account mails."""
    from .consent import email_consent_token

    member = Member.objects.filter(pk=member_id, erased_at__isnull=True).first()
    if member is None or member.email_opt_in or member.email_undeliverable_at is not None:
        return
    link = settings.CARAT_SITE_URL.rstrip("/") + reverse(
        "members:consent_confirm", args=[email_consent_token(member)]
    )
    language = member.language or "en"
    with translation.override(language):
        context = {"member": member, "link": link, "program": program}
        subject = render_to_string("members/email/consent_subject.txt", context).strip()
        body = render_to_string("members/email/consent_body.txt", context)
    if send is not None:
        send(to=member.email, language=language, subject=subject, body=body)
    else:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [member.email])


def send_card_email_now(
    *, member_id: int, program: str = "", make: Callable[..., object] | None = None
) -> None:
    """The member's card by e-mail: the QR code to show at the till as an attached image,
    the member number, and the account page's address. `make(to=, language=, subject=,
    body=)` returns the branded message (campaigns' layout); without it, plain text.
    Nothing for an erased member or an address reported undeliverable."""
    member = Member.objects.filter(pk=member_id, erased_at__isnull=True).first()
    if member is None or member.email_undeliverable_at is not None:
        return
    language = member.language or "en"
    with translation.override(language):
        context = {
            "member": member,
            "program": program,
            "link": settings.CARAT_SITE_URL.rstrip("/") + reverse("members:home"),
        }
        subject = render_to_string("members/email/card_subject.txt", context).strip()
        body = render_to_string("members/email/card_body.txt", context)
    if make is not None:
        message = make(to=member.email, language=language, subject=subject, body=body)
    else:
        message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [member.email])
    message.attach(f"card-{member.member_number}.png", qr_png(member.qr_payload), "image/png")
    message.send()
