from celery import shared_task
from django.conf import settings
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
    from campaigns.mail.compose import program_mail
    from campaigns.services.earning import program

    member = invitation.member
    if member.email_undeliverable_at is not None:
        return  # the provider reported the address undeliverable (bounce, complaint)
    ctx = {"invitation": invitation, "member": member, "link": link, "program": program().name}
    with translation.override(member.language):
        subject = render_to_string("tiers/email/invitation_subject.txt", ctx).strip()
        body = render_to_string("tiers/email/invitation_body.txt", ctx)
    program_mail(
        to=member.email, language=member.language, subject=subject, body=body, kind="invitation"
    ).send()
