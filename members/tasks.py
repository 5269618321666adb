from celery import shared_task

from .emails import send_account_email_now, send_card_email_now, send_consent_email_now


@shared_task(
    name="members.send_account_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
)
def send_account_email(user_id: int, kind: str) -> None:
    from campaigns.mail.compose import program_mail
    from campaigns.services.earning import program

    send_account_email_now(
        user_id=user_id,
        kind=kind,
        program=program().name,
        send=lambda **mail: program_mail(**mail).send(),
    )


@shared_task(
    name="members.send_consent_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
)
def send_consent_email(member_id: int) -> None:
    from campaigns.mail.compose import program_mail
    from campaigns.services.earning import program

    send_consent_email_now(
        member_id=member_id,
        program=program().name,
        send=lambda **mail: program_mail(**mail).send(),
    )


@shared_task(
    name="members.send_card_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
)
def send_card_email(member_id: int) -> None:
    from campaigns.mail.compose import program_mail
    from campaigns.services.earning import program

    send_card_email_now(member_id=member_id, program=program().name, make=program_mail)


@shared_task(
    name="members.wallet_refresh",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
)
def wallet_refresh(wallet_pass_id: int) -> int:
    """Push a changed wallet card to the member's phones (APNs) and patch the Google
    object. Queued through the outbox after the change commits; safe to run twice."""
    from .models import Member
    from .wallet import apns, google
    from .wallet.card import card_facts
    from .wallet.services import wallet_refresh as refresh

    def patch_google(wallet_pass):
        member = Member.objects.get(pk=wallet_pass.member_id)
        google.patch(wallet_pass, card_facts(member))

    return refresh(wallet_pass_id=wallet_pass_id, push=apns.push, patch_google=patch_google)


@shared_task(name="members.predictions", acks_late=True)
def predictions() -> dict:
    """The nightly fit and scoring of every buyer (safe to run twice: it replaces)."""
    from .predictions.services import predictions_run

    run = predictions_run()
    if run is None:
        return {"scored": 0}
    return {"scored": run.members_scored, "seconds": run.seconds}
