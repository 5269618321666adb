"""Account e-mails (verification, invitation). Transactional, not marketing: they are sent
whatever the marketing consent."""

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


def send_account_email_now(*, user_id: int, kind: str) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None or kind not in TEMPLATES:
        return
    member = Member.objects.filter(user=user).first()
    subject_t, body_t, url_name = TEMPLATES[kind]
    with translation.override(member.language if member else "en"):
        context = {"user": user, "member": member, "link": account_link(user, url_name)}
        subject = render_to_string(subject_t, context).strip()
        body = render_to_string(body_t, context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])


def send_card_email_now(*, member_id: int) -> None:
    """The member's card by e-mail: the QR code to show at the till as an attached image,
    the member number, and the account page's address."""
    member = Member.objects.filter(pk=member_id, erased_at__isnull=True).first()
    if member is None:
        return
    with translation.override(member.language):
        context = {
            "member": member,
            "link": settings.CARAT_SITE_URL.rstrip("/") + reverse("members:home"),
        }
        subject = render_to_string("members/email/card_subject.txt", context).strip()
        body = render_to_string("members/email/card_body.txt", context)
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [member.email])
    message.attach(
        f"diamond-club-{member.member_number}.png", qr_png(member.qr_payload), "image/png"
    )
    message.send()
