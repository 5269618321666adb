from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from .models import Invitation
from .services import tiers_evaluate_all


@shared_task(name="tiers.evaluate_all", acks_late=True)
def evaluate_all_tiers() -> dict:
    report = tiers_evaluate_all()
    return {
        "initialised": report.initialised,
        "upgraded": report.upgraded,
        "downgraded": report.downgraded,
    }


@shared_task(
    name="tiers.send_invitation",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
)
def send_invitation(invitation_id: int) -> None:
    invitation = (
        Invitation.objects.select_related("member", "tier").filter(pk=invitation_id).first()
    )
    if invitation is None or invitation.accepted_at:
        return
    link = settings.CARAT_SITE_URL.rstrip("/") + reverse(
        "members:invitation", args=[invitation.token]
    )
    ctx = {"invitation": invitation, "member": invitation.member, "link": link}
    with translation.override(invitation.member.language):
        subject = render_to_string("tiers/email/invitation_subject.txt", ctx).strip()
        body = render_to_string("tiers/email/invitation_body.txt", ctx)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.member.email])
