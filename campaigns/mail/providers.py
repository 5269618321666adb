"""The catalog's and the questionnaire's blocks in the mails: the providers of the slots
in campaigns.mail.slots, registered when the app starts (CampaignsConfig.ready)."""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from campaigns.catalog import popular_products
from campaigns.mailtext import uses
from campaigns.models import MessageLog, TriggerConfig
from campaigns.questionnaire import questionnaire_link_for_member
from campaigns.services.earning import program
from loyalty.kernel.translated import localized
from members.models import Member

from .slots import register_slot


def popular_products_block(member: Member, language: str) -> dict | None:
    """The best sellers of the member's favourite category (campaigns.catalog), none
    that they own already; nothing when there is no favourite or no ranking yet."""
    cards = popular_products(member, limit=3, language=language)
    if not cards:
        return None
    shop = settings.CARAT_SITE_URL.rstrip("/") + reverse("members:home")
    return {
        "title": _("Loved in %(category)s") % {"category": cards[0].category},
        "products": [
            {
                "name": c.name,
                "price": c.price,
                "currency": c.currency,
                "image_url": c.image_url,
                "url": shop,
            }
            for c in cards
        ],
    }


def questionnaire_block(member: Member, language: str, log: MessageLog | None) -> dict | None:
    """The call to the thank-you questionnaire of the member's latest purchase, naming
    the voucher it brings; nothing when the mail's own text already places the link
    ({{ questionnaire_link }}) or there is no purchase or no reward configured."""
    if log is not None and log.trigger:
        cfg = TriggerConfig.objects.filter(trigger=log.trigger).first()
        if cfg is not None and any(uses(t, "questionnaire_link") for t in cfg.texts(language)):
            return None
    reward = program().questionnaire_reward
    if reward is None:
        return None
    at = log.created_at if log is not None else None
    url = questionnaire_link_for_member(member, at=at)
    if not url:
        return None
    gift = localized(reward, "name", language)
    return {
        "title": _("Tell us about your purchase"),
        "text": _("A few questions, two minutes: we thank you with %(gift)s.") % {"gift": gift},
        "url": url,
        "button": _("Answer the questions"),
        "discount": gift,
    }


def register() -> None:
    register_slot("popular_products", popular_products_block)
    register_slot("questionnaire", questionnaire_block)
