from celery import shared_task

from .emails import send_account_email_now, send_card_email_now


@shared_task(
    name="members.send_account_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
)
def send_account_email(user_id: int, kind: str) -> None:
    send_account_email_now(user_id=user_id, kind=kind)


@shared_task(
    name="members.send_card_email",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
)
def send_card_email(member_id: int) -> None:
    send_card_email_now(member_id=member_id)


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
