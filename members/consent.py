"""Marketing consent by double opt-in (a service module: the only writer of the web
sign-up's e-mail consent).

Ticking "send me news" when joining does not consent yet: it mails the address a link,
and the consent (email_opt_in, with its time and a ConsentChange saying how it was given)
is recorded only when the owner of the address follows the link and confirms. The link
is signed with the member and the address, and expires."""

from django.conf import settings
from django.core import signing
from django.utils.translation import gettext_noop

from loyalty.kernel.errors import DomainError
from loyalty.kernel.outbox import enqueue
from loyalty.kernel.security import rate_allow

from .models import Member
from .services import member_update

SALT = "members.email-consent"
SOURCE = "double opt-in"  # ConsentChange.source: how the consent was given
MAX_TOKEN_LENGTH = 300


class ConsentLinkInvalid(DomainError):
    code = "consent_link_invalid"


def link_days() -> int:
    return max(int(getattr(settings, "CARAT_CONSENT_LINK_DAYS", 14)), 1)


def email_consent_token(member: Member) -> str:
    return signing.dumps({"m": member.pk, "e": member.email}, salt=SALT, compress=True)


def email_consent_request(*, member: Member) -> bool:
    """Mail the member a link to confirm they want the marketing e-mails (after commit;
    at most CARAT_ACCOUNT_MAILS_PER_HOUR such mails per member). False when not sent:
    the member consents already, is erased, or is over the budget."""
    if member.email_opt_in or member.erased_at:
        return False
    if not rate_allow(
        f"consent-mail:{member.pk}",
        limit=getattr(settings, "CARAT_ACCOUNT_MAILS_PER_HOUR", 5),
        window=3600,
    ):
        return False
    enqueue("members.send_consent_email", member.pk)
    return True


def email_consent_member(token: str) -> Member:
    """The member a consent link was mailed to, while the link is valid and the address
    is still theirs; ConsentLinkInvalid otherwise (tampered, expired, address changed)."""
    invalid = ConsentLinkInvalid(
        gettext_noop("This confirmation link is not valid any more. Nothing was changed.")
    )
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    try:
        data = signing.loads(token, salt=SALT, max_age=link_days() * 86400)
        member_id, email = int(data["m"]), str(data["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise invalid from None
    member = Member.objects.filter(pk=member_id, email=email, erased_at__isnull=True).first()
    if member is None:
        raise invalid
    return member


def email_consent_confirm(*, token: str) -> Member:
    """The owner of the address confirmed: the consent is given now (once; a second
    click changes nothing)."""
    member = email_consent_member(token)
    if member.email_opt_in:
        return member
    return member_update(member=member, source=SOURCE, email_opt_in=True)
