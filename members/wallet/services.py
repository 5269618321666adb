"""The only writers of the wallet card's state.

A change of the card (balance, tier, QR token) is marked by an explicit call of
`wallet_card_changed` from the service that made it, inside its transaction. It costs the
sale nothing when the member's card is in no phone (`Member.wallet_live` is False: no
statement at all); otherwise one UPDATE of the pass row, plus one outbox INSERT only for
the first change since the last push (coalesced per member). The push itself (APNs, the
Google patch) runs in the worker after commit, never in the sale's transaction."""

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from loyalty.kernel.errors import DomainError
from loyalty.kernel.outbox import enqueue

from ..models import Member
from .models import AppleRegistration, WalletPass

log = logging.getLogger(__name__)

REFRESH_TASK = "members.wallet_refresh"

# One statement: move the version (strictly increasing whole seconds, so that
# If-Modified-Since never hides a change made in the same second as the last download)
# and count the change; RETURNING says whether it is the first since the last push.
_MARK = (
    "UPDATE members_walletpass SET "
    "version = CASE WHEN version >= %s THEN version + 1 ELSE %s END, "
    "pending = pending + 1 WHERE member_id = %s RETURNING id, pending"
)


def _now_seconds() -> int:
    return int(time.time())


def wallet_card_changed(*, member: Member) -> None:
    """The card of `member` shows something new (carats, tier, QR code). Call it inside
    the transaction that made the change."""
    if not member.wallet_live:
        return
    now = _now_seconds()
    with connection.cursor() as cur:
        cur.execute(_MARK, [now, now, member.pk])
        row = cur.fetchone()
    if row is not None and row[1] == 1:
        enqueue(REFRESH_TASK, row[0])


def wallet_cards_changed(*, member_ids: Iterable[int]) -> int:
    """The set-based form for batch jobs (the nightly tier moves): one UPDATE over the
    live cards among `member_ids`, one outbox row per card not already waiting."""
    ids = list(member_ids)
    if not ids:
        return 0
    now = _now_seconds()
    queued = 0
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        marks = ", ".join(["%s"] * len(chunk))
        with connection.cursor() as cur:
            cur.execute(
                _MARK.replace("WHERE member_id = %s", f"WHERE member_id IN ({marks})"),
                [now, now, *chunk],
            )
            rows = cur.fetchall()
        for pass_id, pending in rows:
            if pending == 1:
                enqueue(REFRESH_TASK, pass_id)
                queued += 1
    return queued


def wallet_pass_issue(*, member: Member) -> WalletPass:
    """The member's pass (created at the first download)."""
    if member.erased_at is not None:
        raise DomainError("This membership was closed.")
    wallet_pass, _created = WalletPass.objects.get_or_create(
        member=member, defaults={"version": _now_seconds()}
    )
    return wallet_pass


def wallet_forget(*, member: Member) -> None:
    """Erasure: the pass and its registrations go."""
    WalletPass.objects.filter(member=member).delete()
    member.wallet_live = False


def _set_live(member_id: int) -> None:
    live = (
        AppleRegistration.objects.filter(wallet_pass__member_id=member_id).exists()
        or WalletPass.objects.filter(member_id=member_id, google_issued_at__isnull=False).exists()
    )
    Member.objects.filter(pk=member_id).update(wallet_live=live)


@transaction.atomic
def apple_register(*, wallet_pass: WalletPass, device_id: str, push_token: str) -> bool:
    """A device added the pass. Returns True if the registration is new. A new device
    gets a push at once, so it fetches the current card (the file it added may be older
    than the card)."""
    _reg, created = AppleRegistration.objects.update_or_create(
        wallet_pass=wallet_pass, device_id=device_id, defaults={"push_token": push_token}
    )
    Member.objects.filter(pk=wallet_pass.member_id).update(wallet_live=True)
    member = Member.objects.get(pk=wallet_pass.member_id)
    if created:
        wallet_card_changed(member=member)
    return created


@transaction.atomic
def apple_unregister(*, wallet_pass: WalletPass, device_id: str) -> bool:
    deleted, _ = AppleRegistration.objects.filter(
        wallet_pass=wallet_pass, device_id=device_id
    ).delete()
    _set_live(wallet_pass.member_id)
    return bool(deleted)


def google_issued(*, wallet_pass: WalletPass) -> None:
    """A Google save link was handed out: from now on the object is patched after changes."""
    with transaction.atomic():
        WalletPass.objects.filter(pk=wallet_pass.pk, google_issued_at__isnull=True).update(
            google_issued_at=timezone.now()
        )
        Member.objects.filter(pk=wallet_pass.member_id).update(wallet_live=True)


def google_notify_allowed(*, wallet_pass_id: int, today) -> bool:
    """Claim one of Google's notifications of the day for this pass (at most
    CARAT_GOOGLE_WALLET_NOTIFICATIONS_PER_DAY); a conditional UPDATE, so two workers
    cannot both take the last one."""
    limit = settings.CARAT_GOOGLE_WALLET_NOTIFICATIONS_PER_DAY
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE members_walletpass SET "
            "google_notify_count = CASE WHEN google_notify_day = %s "
            "THEN google_notify_count + 1 ELSE 1 END, google_notify_day = %s "
            "WHERE id = %s AND (google_notify_day IS NULL OR google_notify_day <> %s "
            "OR google_notify_count < %s)",
            [today, today, wallet_pass_id, today, limit],
        )
        return cur.rowcount == 1


def wallet_refresh(*, wallet_pass_id: int, push, patch_google=None) -> int:
    """The worker's half: push the card's change to every registered device and patch the
    Google object. Safe to run twice. `push(tokens) -> set of tokens that are gone` and
    `patch_google(wallet_pass) -> None` do the network calls; they run outside any
    transaction. Changes that arrive while pushing are pushed again (the pending count is
    cleared only if it did not move), so none is lost, and a crash before the clear
    leaves the count set for the task's retry. Returns the number of pushes sent."""
    sent = 0
    for _round in range(5):
        wp = WalletPass.objects.filter(pk=wallet_pass_id).first()
        if wp is None or wp.pending == 0:
            return sent
        seen = wp.pending
        tokens = list(
            AppleRegistration.objects.filter(wallet_pass=wp).values_list("push_token", flat=True)
        )
        if tokens:
            gone = push(sorted(set(tokens)))
            sent += len(set(tokens)) - len(gone)
            if gone:
                AppleRegistration.objects.filter(wallet_pass=wp, push_token__in=gone).delete()
                _set_live(wp.member_id)
        if patch_google is not None and wp.google_issued_at is not None:
            patch_google(wp)
        if WalletPass.objects.filter(pk=wp.pk, pending=seen).update(pending=0):
            return sent
    log.warning("wallet: pass %s kept changing while pushing", wallet_pass_id)
    return sent


def last_modified(wallet_pass: WalletPass) -> datetime:
    return datetime.fromtimestamp(wallet_pass.version, tz=UTC)
