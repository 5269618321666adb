"""What the card shows, gathered at the edges.

The card shows the tier and the progress (the tiers app) and the boutiques (the pos
app), which sit above members: only views and tasks import this module, the domain code
of members never does (see the dependency direction in the README)."""

from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext as _

from campaigns.services.earning import program
from loyalty.kernel.translated import localized
from pos.models import Store
from tiers.selectors import member_progress

from ..models import Member


@dataclass(frozen=True)
class CardFacts:
    member_name: str
    member_number: str
    qr_payload: str
    balance: int
    tier_name: str
    tier_color: str
    progress: str
    boutiques: tuple[str, ...]
    language: str
    program: str = "Diamond Club"  # the brand's program name (campaigns' brand setting)


def card_facts(member: Member) -> CardFacts:
    progress = member_progress(member)
    language = member.language or "en"
    with translation.override(language):
        if progress.next_tier is not None:
            text = _("%(n)s carats to %(tier)s") % {
                "n": f"{progress.carats_to_next:,}",
                "tier": localized(progress.next_tier, "name", language),
            }
        else:
            text = _("You enjoy %(tier)s, our highest tier.") % {
                "tier": localized(progress.tier, "name", language)
            }
    boutiques = tuple(
        f"{s.name}, {s.city}"
        for s in Store.objects.filter(active=True).order_by("name").only("name", "city")[:20]
    )
    return CardFacts(
        member_name=member.full_name or member.email,
        member_number=member.member_number,
        qr_payload=member.qr_payload,
        balance=member.balance,
        tier_name=localized(progress.tier, "name", language),
        tier_color=progress.tier.color,
        progress=text,
        boutiques=boutiques,
        language=language,
        program=program().name,
    )
