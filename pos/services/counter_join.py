"""Joining at the counter on the member's own phone.

The POS page shows a join QR code for its store: a signed link to the sign-up page that
names the store and the shop assistant. The link is stable for a while (so the code on
the tablet does not flicker) and expires (a photo of an old code stops working). The
sign-up page reads it back here, and a member who joined through it is recorded with the
store and the shop assistant (CounterJoin) and enters the store's client book."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from loyalty.kernel.errors import DomainError
from members.models import Member, User

from ..clienteling.models import StoreClient
from ..clienteling.services import store_client_add
from ..models import CounterJoin, Store

SALT = "pos.counter-join"
# The code on the tablet changes every SLOT_SECONDS (a new signature, same store).
SLOT_SECONDS = 600
MAX_TOKEN_LENGTH = 300


class JoinLinkInvalid(DomainError):
    code = "join_link_invalid"


class JoinLinkExpired(DomainError):
    code = "join_link_expired"
    status = 410


@dataclass(frozen=True)
class JoinLink:
    store: Store
    associate: User
    issued_at: datetime


def link_minutes() -> int:
    """How long a join code works after it was shown (CARAT_JOIN_LINK_MINUTES)."""
    return max(int(getattr(settings, "CARAT_JOIN_LINK_MINUTES", 120)), SLOT_SECONDS // 60)


def join_token(*, store: Store, associate: User, now: datetime | None = None) -> str:
    """The signed payload of the store's join link, the same within one time slot."""
    now = now or timezone.now()
    slot = int(now.timestamp()) // SLOT_SECONDS * SLOT_SECONDS
    return signing.Signer(salt=SALT).sign_object(
        {"s": store.pk, "a": associate.pk, "t": slot}, compress=True
    )


def join_link_read(token: str, *, now: datetime | None = None) -> JoinLink:
    """The store and shop assistant of a join link. A tampered link, or one whose store is
    closed or whose shop assistant no longer works there: JoinLinkInvalid; an old one:
    JoinLinkExpired."""
    invalid = JoinLinkInvalid(
        gettext_noop("This join link is not valid. Ask in the boutique for a new code.")
    )
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    try:
        data = signing.Signer(salt=SALT).unsign_object(token)
        store_id, associate_id, issued = int(data["s"]), int(data["a"]), int(data["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise invalid from None
    now_ts = (now or timezone.now()).timestamp()
    if issued > now_ts + SLOT_SECONDS:
        raise invalid
    if now_ts - issued > link_minutes() * 60:
        raise JoinLinkExpired(
            gettext_noop("This join link has expired. Ask in the boutique for a new code.")
        )
    store = Store.objects.filter(pk=store_id, active=True).first()
    associate = (
        User.objects.filter(pk=associate_id, is_active=True, stores=store).first()
        if store
        else None
    )
    if associate is None:
        raise invalid
    return JoinLink(
        store=store,
        associate=associate,
        issued_at=datetime.fromtimestamp(issued, tz=timezone.get_current_timezone()),
    )


@transaction.atomic
def counter_join_record(*, member: Member, link: JoinLink) -> CounterJoin:
    """Record where and with whom a new member joined (once), enter the store's client
    book, and count the member as enrolled in the store."""
    join, _created = CounterJoin.objects.get_or_create(
        member=member, defaults={"store": link.store, "associate": link.associate}
    )
    Member.objects.filter(pk=member.pk).update(source=Member.Source.STORE)
    member.source = Member.Source.STORE
    store_client_add(store=link.store, member=member, reason=StoreClient.Reason.REGISTERED)
    return join
