"""A member mail exactly as it is sent: subject, HTML in the brand's layout, the plain
text of the same blocks, and the inline images (voucher QR codes). The sending
(campaigns.services.crm.message_deliver), the console's preview and the test send all
call `compose`, so what marketing previews is what members get.

One language per mail: the language is the member's when the mail has a body in it,
else English — subject, message, blocks, header and footer all in that one language."""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import urlize
from django.utils.translation import gettext as _

from campaigns.models import Broadcast, MessageLog, TriggerConfig
from campaigns.services import crm
from campaigns.services.earning import program
from loyalty.kernel.maillayout import Brand, Footer, RenderedMail, render_mail, text_block
from loyalty.kernel.translated import localized
from members.models import Member

from . import blocks as mail_blocks
from . import defaults

# Triggers the program sends from its built-in texts (templates/campaigns/email/).
APPOINTMENT_TRIGGERS = {"appointment_confirmed", "appointment_reminder"}
BIRTHDAY_TRIGGERS = {"birthday", "birthday_soon"}


def brand() -> Brand:
    """The brand of every member mail, from the program's settings."""
    p = program()
    logo = ""
    if p.logo:
        try:
            logo = settings.CARAT_SITE_URL.rstrip("/") + static(p.logo)
        except ValueError:  # a static manifest without the file
            logo = ""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return Brand(
        name=p.name,
        logo_url=logo,
        ink=p.ink_color,
        accent=p.accent_color,
        background=p.background_color,
        serif=p.typography == "serif",
        legal_address=p.legal_address,
        from_email=_sender(p.mail_from_name or p.name, address),
        reply_to=p.mail_reply_to,
    )


def _sender(name: str, address: str) -> str:
    """'Name <address>' (quoted when the name needs it; Django encodes it for the wire)."""
    try:
        return str(Address(display_name=name, addr_spec=address))
    except (ValueError, IndexError):
        return settings.DEFAULT_FROM_EMAIL


def source_of(log: MessageLog) -> tuple[TriggerConfig | Broadcast | None, TriggerConfig | None]:
    """(where the texts come from, the trigger's config)."""
    if log.broadcast_id:
        return log.broadcast, None
    cfg = TriggerConfig.objects.select_related("gift_reward").filter(trigger=log.trigger).first()
    return cfg, cfg


def message_texts(source: TriggerConfig | Broadcast, log: MessageLog):
    """What a message is written with: the mail's own texts or, in an A/B test, the
    member's variant (campaigns.services.variants; it sets `log.variant`). Both answer
    `texts(language)` and `mail_language(language)`, so the whole mail is in the language
    of the texts actually chosen."""
    from campaigns.services.variants import message_texts as chosen

    return chosen(log, source)


def gift_text(log: MessageLog, cfg: TriggerConfig | None) -> str:
    """What the gift inside is, in words (the active language), or ""."""
    if cfg is not None and cfg.has_gift:
        return crm._gift_text(log, cfg)
    if log.trigger in BIRTHDAY_TRIGGERS:
        return mail_blocks.surprise_words(*mail_blocks.birthday_surprise(log.member, log.trigger))
    return ""


def compose(log: MessageLog, *, language: str | None = None, track: bool = True) -> RenderedMail:
    """The mail of `log` as sent. `language` (the console's preview) reads it as a member
    of that language would; `track` off leaves links and the pixel out (a preview)."""
    member = log.member
    if language:
        member = Member(**{f.attname: getattr(log.member, f.attname) for f in Member._meta.fields})
        member.language = language
        log.member = member
    source, cfg = source_of(log)
    written = message_texts(source, log) if source else None
    mail_language = written.mail_language(member.language) if written else member.language
    if mail_language not in dict(settings.LANGUAGES):
        mail_language = "en"
    the_brand = brand()
    with translation.override(mail_language), timezone.override(crm._zone(member)):
        gift = gift_text(log, cfg)
        subject, pieces = _texts(log, written, cfg, member, mail_language, gift)
        token = crm.track_token(log) if track and log.pk else None
        values = crm.mail_values(member=member, log=log, gift=gift, needed=())
        ctx = mail_blocks.MailContext(
            member=member,
            language=mail_language,
            trigger=log.trigger,
            pieces=pieces,
            values=values,
            cfg=cfg,
            log=log,
            # A preview links staff-written URLs directly; a real mail through the tracker.
            wrap_link=(lambda piece: crm._wrap_links(piece, token))
            if token
            else (lambda piece: urlize(piece, autoescape=True)),
        )
        names = mail_blocks.blocks_for(source, log.trigger)
        blocks = mail_blocks.render_blocks(names, ctx)
        progress = mail_blocks._progress(ctx) if log.trigger.startswith("tier_") else None
        tier = localized(progress.tier, "name") if progress else ""
        heading = defaults.heading(
            log.trigger,
            first_name=member.first_name,
            tier=tier,
            program=the_brand.name,
            subject=subject,
        )
        footer = _footer(log, the_brand, token)
        mail = render_mail(
            brand=the_brand,
            language=mail_language,
            subject=subject[:200],
            heading=heading,
            subheading=defaults.gift_line(gift),
            blocks=blocks,
            footer=footer,
        )
    return mail


def _texts(log, written, cfg, member, language, gift) -> tuple[str, list[tuple[str, bool]]]:
    if written is None:
        site_url = settings.CARAT_SITE_URL.rstrip("/")
        from campaigns.services.messaging import message_context

        ctx = {
            "site_url": site_url,
            "program": program().name,
            **message_context(log),
            **(log.context or {}),
        }
        if isinstance(ctx.get("expiry_date"), str):  # the occasion's ISO date, for people
            ctx["expiry_date"] = crm._local_date(ctx["expiry_date"])
        subject, pieces = crm._file_texts(log.trigger, ctx, member)
        if gift and not crm._mentions_gift(subject, None, gift):
            subject = f"{subject} — {defaults.subject_gift(gift)}"
        return subject, pieces
    texts = written.texts(language)
    subject, pieces = crm._staff_texts(
        texts, member, log=log, gift=gift, basket=log.trigger == "cart_abandoned"
    )
    if gift and not crm._mentions_gift(texts[0], cfg, gift):
        subject = f"{subject} — {defaults.subject_gift(gift)}"
    return subject, pieces


def _footer(log: MessageLog, the_brand: Brand, token: str | None) -> Footer:
    if log.marketing:
        kind = "marketing"
    elif log.trigger in APPOINTMENT_TRIGGERS:
        kind = "appointment"
    else:
        kind = "service"
    unsubscribe = ""
    if log.marketing and log.member.pk:
        unsubscribe = crm._absolute(
            reverse("campaigns:unsubscribe", args=[crm.unsubscribe_token(log.member)])
        )
    pixel = crm._absolute(reverse("campaigns:open", args=[token])) if token else ""
    return Footer(
        reason=defaults.footer_reason(kind, the_brand.name),
        unsubscribe_url=unsubscribe,
        unsubscribe_label=_("Unsubscribe from these e-mails"),
        account_url=crm._absolute(reverse("members:home")),
        account_label=_("Your account"),
        pixel_url=pixel,
    )


def preview(
    *, member: Member, language: str, trigger: str = "", broadcast: Broadcast | None = None
) -> RenderedMail:
    """The mail `member` would get for `trigger` (or `broadcast`), read in `language`:
    the same composition as the sending, without tracking and without giving the gift.
    Nothing is saved."""
    cfg = None if broadcast else TriggerConfig.objects.filter(trigger=trigger).first()
    log = MessageLog(
        member=member,
        trigger="broadcast" if broadcast else trigger,
        occasion="preview",
        broadcast=broadcast,
        marketing=True if broadcast else (cfg.marketing if cfg else True),
        context=_sample_context(trigger, member),
    )
    return compose(log, language=language, track=False)


def _sample_context(trigger: str, member: Member) -> dict:
    """Facts an event would bring (for the preview of event triggers): the member's own
    where there are some, else an example."""
    from datetime import timedelta

    from campaigns.models import Club, ClubMembership

    today = timezone.localdate()
    if trigger == "cart_abandoned":
        return {"lines": [{"name": "Solitaire ring", "quantity": 1}]}
    if trigger == "carats_expiring":
        return {"carats": 120, "expiry_date": (today + timedelta(days=30)).isoformat()}
    if trigger == "club_renewal":
        membership = (
            ClubMembership.objects.select_related("club").filter(member=member).first()
            if member.pk
            else None
        )
        club = Club.objects.order_by("pk").first()
        if membership is None and club is not None:
            ends = timezone.now() + timedelta(days=14)
            membership = ClubMembership(member=member, club=club, ends_at=ends)
        return {"membership": membership} if membership is not None else {}
    return {}


def program_mail(*, to: str, language: str, subject: str, body: str, kind: str = "account"):
    """An account or invitation mail (written by the program, not by staff) in the
    brand's layout: the body as the message block, the subject as the header. Returns
    the message, ready to send."""
    the_brand = brand()
    language = language if language in dict(settings.LANGUAGES) else "en"
    with translation.override(language):
        footer = Footer(
            reason=defaults.footer_reason(kind, the_brand.name),
            account_url=crm._absolute(reverse("members:home")),
            account_label=_("Your account"),
        )
        rendered = render_mail(
            brand=the_brand,
            language=language,
            subject=subject,
            heading=subject,
            blocks=[text_block(body)],
            footer=footer,
        )
    return crm.build_email(rendered, to=to, sender=the_brand)
