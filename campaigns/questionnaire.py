"""The thank-you questionnaire's link: signed, expiring, no login needed.

The link carries the purchase's id signed with the site's key (django.core.signing), so
nobody can answer for another purchase, and it expires after
CARAT_QUESTIONNAIRE_LINK_DAYS (default 30). The page itself (the form, the voucher it
grants once per purchase) is the sales app's (pos.questionnaire): it knows the purchases.
Here only what the mails need: the token and the member's link."""

from datetime import datetime

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from members.models import Member

SALT = "carat.questionnaire"


class LinkExpired(Exception):
    """A genuine link older than its lifetime."""


def _max_age() -> int:
    return getattr(settings, "CARAT_QUESTIONNAIRE_LINK_DAYS", 30) * 86400


def questionnaire_token(purchase_id: int) -> str:
    return signing.dumps(int(purchase_id), salt=SALT)


def questionnaire_purchase_id(token: str) -> int | None:
    """The purchase of a genuine link; None if forged. Raises LinkExpired when too old."""
    try:
        value = signing.loads(token, salt=SALT, max_age=_max_age())
    except signing.SignatureExpired:
        raise LinkExpired() from None
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def questionnaire_link(purchase_id: int) -> str:
    """The absolute link to the questionnaire of one purchase."""
    path = reverse("questionnaire", args=[questionnaire_token(purchase_id)])
    return settings.CARAT_SITE_URL.rstrip("/") + path


def questionnaire_link_for_member(member: Member, *, at: datetime | None = None) -> str:
    """The link for the member's latest purchase up to `at` (the thank-you mail's
    moment; now by default), or "" when there is none. Sales are the pos app's: they are
    read through the member's relation, as the segments do."""
    if member.pk is None:
        return ""
    purchase_id = (
        member.purchases.filter(occurred_at__lte=at or timezone.now())
        .order_by("-occurred_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return questionnaire_link(purchase_id) if purchase_id else ""
