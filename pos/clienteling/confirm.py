"""A redemption confirmed by the client on their own phone.

While the member's account page is open it asks every few seconds whether something
waits for their confirmation (`account_open_mark` keeps a short-lived mark in the cache).
The till, asked to redeem a reward for a member whose page is open, makes a pending
RedemptionRequest instead of spending: the member sees the reward, its cost and the
balance after, and confirms or declines; only the confirmation spends (reward_redeem,
once per request). Otherwise the associate confirms at the till (pos.views)."""

from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.services import reward_redeem
from loyalty.kernel.errors import Conflict, NotFound
from members.models import Member

from .models import RedemptionRequest

OPEN_SECONDS = 20  # the page asks every 4 s; a closed page lapses after this
REQUEST_MINUTES = 5


def _key(member_id: int) -> str:
    return f"clienteling:account-open:{member_id}"


def account_open_mark(member: Member) -> None:
    cache.set(_key(member.pk), 1, OPEN_SECONDS)


def account_is_open(member: Member) -> bool:
    return bool(cache.get(_key(member.pk)))


def request_create(*, member, reward, store, actor, once: str) -> RedemptionRequest:
    # One pending request per member: a new one replaces what the client did not answer.
    RedemptionRequest.objects.filter(member=member, status=RedemptionRequest.Status.PENDING).update(
        status=RedemptionRequest.Status.DECLINED, decided_at=timezone.now()
    )
    return RedemptionRequest.objects.create(
        member=member, reward=reward, store=store, requested_by=actor, once=once[:64]
    )


def pending_for(member: Member) -> RedemptionRequest | None:
    return (
        RedemptionRequest.objects.filter(
            member=member,
            status=RedemptionRequest.Status.PENDING,
            created_at__gte=timezone.now() - timedelta(minutes=REQUEST_MINUTES),
        )
        .select_related("reward", "store")
        .order_by("-created_at")
        .first()
    )


def request_decide(*, member: Member, request_id: int, accept: bool) -> RedemptionRequest:
    """The member's answer; only their own pending, unexpired request. Confirming twice
    redeems once."""
    with transaction.atomic():
        req = (
            RedemptionRequest.objects.select_for_update()
            .filter(pk=request_id, member=member)
            .select_related("reward")
            .first()
        )
        if req is None:
            raise NotFound(_("This request does not exist."))
        if req.status != RedemptionRequest.Status.PENDING:
            return req
        if req.created_at < timezone.now() - timedelta(minutes=REQUEST_MINUTES):
            raise Conflict(_("This request has expired: ask the associate again."))
        if accept:
            redemption = reward_redeem(
                member=member,
                reward=req.reward,
                actor=req.requested_by,
                request_key=f"pos:{req.once}",
            )
            req.voucher_code = redemption.voucher.code
            req.status = RedemptionRequest.Status.CONFIRMED
        else:
            req.status = RedemptionRequest.Status.DECLINED
        req.decided_at = timezone.now()
        req.save(update_fields=["status", "voucher_code", "decided_at"])
    return req
