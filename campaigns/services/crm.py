"""CRM mails going out: rendering, sending with tracking and one-click unsubscribe, and
the results per trigger. Which mails are due and which may go is campaigns.services.dispatch.

Sending moves a row from queued to sending with a conditional UPDATE, so two workers
never send the same row."""

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from campaigns import mailtext
from campaigns.models import Broadcast, MessageLog, TriggerConfig
from campaigns.segments import segment_members
from loyalty.kernel.errors import DomainError
from loyalty.kernel.translated import localized
from members.models import LedgerEntry, Member
from members.services import ledger_post, member_update

UNSUBSCRIBE_SALT = "carat.unsubscribe"
TRACK_SALT = "carat.track"
LINK_SALT = "carat.track.link"


def sending_timeout() -> timedelta:
    """A message left in 'sending' longer than this was in a worker that died."""
    return timedelta(seconds=getattr(settings, "CARAT_SENDING_TIMEOUT_SECONDS", 900))


# --- sending ------------------------------------------------------------------------


def unsubscribe_token(member: Member) -> str:
    return signing.dumps(member.pk, salt=UNSUBSCRIBE_SALT)


def track_token(log: MessageLog) -> str:
    return signing.dumps(log.pk, salt=TRACK_SALT)


def _track_max_age() -> int:
    """Open and click tokens (and the signed URLs of tracked links) expire."""
    return getattr(settings, "CARAT_TRACK_TOKEN_DAYS", 180) * 86400


def _unsubscribe_max_age() -> int:
    return getattr(settings, "CARAT_UNSUBSCRIBE_TOKEN_DAYS", 400) * 86400


def _absolute(path: str) -> str:
    return settings.CARAT_SITE_URL.rstrip("/") + path


def _zone(member: Member) -> ZoneInfo:
    """The member's time zone (the site's if the stored name is not one)."""
    try:
        return ZoneInfo(member.time_zone)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return ZoneInfo(settings.TIME_ZONE)


def _local_date(at) -> str:
    """A date (or a moment, in the active time zone) as the member's language writes it."""
    if at is None:
        return ""
    if isinstance(at, datetime):
        at = timezone.localtime(at).date()
    elif isinstance(at, str):
        try:
            at = date.fromisoformat(at)
        except ValueError:
            return at
    return formats.date_format(at, "DATE_FORMAT")


def _basket_lines(lines) -> str:
    """The basket items as the web shop reported them (see the events API), one a line."""
    out = []
    for line in lines or []:
        if not isinstance(line, dict):
            continue
        name = str(line.get("name") or line.get("sku") or "").strip()
        if not name:
            continue
        quantity = line.get("quantity") or 1
        out.append(f"{quantity} x {name}" if quantity != 1 else name)
    return "\n".join(out)


def _program_name() -> str:
    from campaigns.services.earning import program

    return program().name


def mail_values(
    *,
    member: Member,
    log: MessageLog | None = None,
    gift: str = "",
    needed: Iterable[str] | None = None,
) -> dict[str, str]:
    """The documented variables (campaigns.mailtext.VARIABLES) for `member`: plain
    strings, the only things a staff-written text can show. Only the `needed` ones that
    take a query are computed (all when None). Call it in the member's language and time
    zone."""
    from campaigns.services.challenges import challenges_for_member
    from campaigns.services.messaging import message_context
    from tiers.selectors import member_progress
    from tiers.services import downgrade_deadline

    want = set(mailtext.VARIABLES) if needed is None else set(needed)
    values = {
        "first_name": member.first_name,
        "last_name": member.last_name,
        "balance": str(member.balance),
        "gift": gift,
        "program": _program_name(),
        "site_url": settings.CARAT_SITE_URL.rstrip("/"),
        "account_url": _absolute(reverse("members:home")),
        "rewards_url": _absolute(reverse("members:rewards")),
        "profile_url": _absolute(reverse("members:profile")),
    }
    if member.pk is None:  # a test mail to an empty segment
        return values
    if want & {"tier", "next_tier", "carats_to_next_tier"}:
        progress = member_progress(member)
        values["tier"] = localized(progress.tier, "name")
        values["next_tier"] = localized(progress.next_tier, "name") if progress.next_tier else ""
        to_go = progress.carats_to_next
        values["carats_to_next_tier"] = "" if to_go is None else str(to_go)
    if "questionnaire_link" in want:
        from campaigns.questionnaire import questionnaire_link_for_member

        at = log.due_at if log is not None and log.due_at else None
        values["questionnaire_link"] = questionnaire_link_for_member(member, at=at)
    if "tier_deadline" in want:
        values["tier_deadline"] = _local_date(downgrade_deadline(member=member))
    if "challenges" in want:
        values["challenges"] = "\n".join(
            _("%(name)s: %(description)s (%(days)s days left)")
            % {
                "name": localized(c.enrolment.challenge, "name"),
                "description": localized(c.enrolment.challenge, "description"),
                "days": c.days_left,
            }
            if c.days_left is not None
            else f"{localized(c.enrolment.challenge, 'name')}: "
            f"{localized(c.enrolment.challenge, 'description')}"
            for c in challenges_for_member(member)
        )
    if log is not None:
        facts = {**message_context(log), **(log.context or {})}
        values["basket"] = _basket_lines(facts.get("lines"))
        if "carats" in facts:
            values["expiring_carats"] = str(facts["carats"])
            values["expiry_date"] = _local_date(facts.get("expiry_date"))
        membership = facts.get("membership")
        if membership is not None:
            values["club"] = localized(membership.club, "name")
            values["club_ends"] = _local_date(membership.ends_at)
    return values


def _staff_texts(
    texts: tuple[str, str],
    member: Member,
    *,
    log: MessageLog | None = None,
    gift: str = "",
    basket: bool = False,
) -> tuple[str, list[tuple[str, bool]]]:
    """(subject, body pieces) of a staff-written (subject, body), through the sandbox."""
    subject_t, body_t = texts
    needed = mailtext.names(subject_t) | mailtext.names(body_t)
    values = mail_values(member=member, log=log, gift=gift, needed=needed)
    subject = mailtext.render(subject_t, values).strip()
    pieces = mailtext.render_pieces(body_t, values)
    if basket and values.get("basket") and "basket" not in needed:
        # The events API promises the basket's items in this mail: a text that does not
        # place them gets them at the end.
        pieces += [("\n\n", True), (values["basket"], False)]
    return subject, pieces


_MARK = "\x00{}\x00"
_MARKS = re.compile("\x00([01])\x00")


def _file_texts(trigger: str, ctx: dict, member: Member) -> tuple[str, list[tuple[str, bool]]]:
    """The built-in texts (templates/campaigns/email/) of triggers without a configured
    text. The member's own values go in as marks, so that the pieces around them are
    known to be ours (their links tracked) and the member's are not."""
    from django.template import Context
    from django.template.loader import get_template

    own = [member.first_name, member.last_name]
    ctx = {
        **ctx,
        "member": {"first_name": _MARK.format(0), "last_name": _MARK.format(1)},
    }

    def render(name: str) -> list[tuple[str, bool]]:
        text = get_template(name).template.render(Context(ctx, autoescape=False))
        pieces, pos = [], 0
        for m in _MARKS.finditer(text):
            pieces += [(text[pos : m.start()], True), (own[int(m.group(1))], False)]
            pos = m.end()
        return [*pieces, (text[pos:], True)]

    subject = "".join(p for p, _s in render(f"campaigns/email/{trigger}_subject.txt")).strip()
    return subject, render(f"campaigns/email/{trigger}_body.txt")


def render_message(log: MessageLog) -> tuple[str, str, str]:
    """(subject, text body, html body) in the member's language, in the brand's layout
    (campaigns.mail.compose). Staff-written texts go through the sandbox
    (campaigns.mailtext); only links that staff wrote are tracked."""
    from campaigns.mail.compose import compose

    mail = compose(log)
    return mail.subject, mail.text, mail.html


def _mentions_gift(subject_t: str, cfg: TriggerConfig | None, gift: str) -> bool:
    """Does the subject, as staff wrote it, already speak of the gift? It does when it
    places {{ gift }}, says "gift" in the member's language, or names what the gift is
    (its carats, e.g. "100 carats are waiting", or its reward). Only a subject that says
    nothing of it gets "— your gift: ..."."""
    if mailtext.uses(subject_t, "gift"):
        return True
    written = subject_t.lower()
    names = [_("gift"), gift]
    if cfg is not None and cfg.gift_carats:
        names.append(_("%(n)s carats") % {"n": cfg.gift_carats})
    if cfg is not None and cfg.gift_reward_id:
        names.append(cfg.gift_reward.name)
    return any(name.lower() in written for name in names if name)


_URL = re.compile(r"https?://[^\s<>\"']+")


def _wrap_links(text: str, token: str) -> str:
    """Staff-written plain text as HTML, each http(s) URL in it a tracked link (a signed
    redirect that expires, see track_click)."""
    out, pos = [], 0
    click = _absolute(reverse("campaigns:click", args=[token]))
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        end = match.start() + len(url)
        signed = signing.dumps(url, salt=LINK_SALT, compress=True)
        href = f"{click}?u={signed}"
        out += [escape(text[pos : match.start()]), f'<a href="{escape(href)}">{escape(url)}</a>']
        pos = end
    out.append(escape(text[pos:]))
    return "".join(out)


def _gift_text(log: MessageLog, cfg: TriggerConfig) -> str:
    parts = []
    if cfg.gift_carats:
        parts.append(_("%(n)s carats") % {"n": cfg.gift_carats})
    if cfg.gift_reward_id:
        code = (log.context or {}).get("voucher")
        parts.append(localized(cfg.gift_reward, "name") + (f" ({code})" if code else ""))
    return ", ".join(parts)


def _give_gift(log: MessageLog) -> None:
    """The gift inside a trigger mail, given once per message (keys make it so)."""
    from campaigns.services.rewards import voucher_issue_gift

    cfg = TriggerConfig.objects.filter(trigger=log.trigger).select_related("gift_reward").first()
    if cfg is None or log.broadcast_id:
        return
    if cfg.gift_carats:
        ledger_post(
            member=log.member,
            carats=cfg.gift_carats,
            kind=LedgerEntry.Kind.BONUS,
            reason=f"Gift: {cfg.get_trigger_display()}",
            key=f"gift:{log.pk}",
        )
    if cfg.gift_reward_id and not (log.context or {}).get("voucher"):
        voucher = voucher_issue_gift(member=log.member, reward=cfg.gift_reward, source=log.trigger)
        log.context = {**(log.context or {}), "voucher": voucher.code}
        MessageLog.objects.filter(pk=log.pk).update(context=log.context)


def message_deliver(*, log_id: int) -> str:
    """Send one claimed message. Only the worker that moves it from queued (or failed) to
    sending sends it; a sent message is never sent again. An address the mail provider
    reported undeliverable (bounce, complaint) gets nothing."""
    moved = MessageLog.objects.filter(pk=log_id, status__in=["queued", "failed"]).update(
        status="sending", attempts=F("attempts") + 1, claimed_at=timezone.now()
    )
    if moved != 1:
        return "not-mine"
    log = MessageLog.objects.select_related("member", "broadcast").get(pk=log_id)
    if log.member.email_undeliverable_at is not None:
        MessageLog.objects.filter(pk=log_id).update(
            status=MessageLog.Status.SUPPRESSED, error=log.member.email_undeliverable_reason[:255]
        )
        if log.broadcast_id:
            broadcasts_finish()
        return "suppressed"
    with transaction.atomic():
        _give_gift(log)
    from campaigns.mail.compose import brand, compose

    rendered = compose(log)
    headers = {}
    if log.marketing:
        url = _absolute(reverse("campaigns:unsubscribe", args=[unsubscribe_token(log.member)]))
        headers = {
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    # One Message-ID per message log row: a resend after a crash between the send and
    # the status write carries the same id, which providers and mail clients deduplicate.
    headers["Message-ID"] = f"<carat-{log.pk}@{settings.CARAT_MAIL_DOMAIN}>"
    mail = build_email(rendered, to=log.member.email, sender=brand(), headers=headers)
    try:
        mail.send()
    except OSError as exc:
        MessageLog.objects.filter(pk=log_id).update(status="failed", error=str(exc)[:255])
        raise
    MessageLog.objects.filter(pk=log_id).update(
        status="sent",
        sent_at=timezone.now(),
        subject=rendered.subject,
        body=rendered.text,
        error="",
        esp_message_id=_esp_message_id(mail)[:255],
        variant=log.variant_id,  # the A/B variant compose chose, if any
    )
    if log.broadcast_id:
        broadcasts_finish()
    return "sent"


def build_email(rendered, *, to: str, sender, headers: dict | None = None):
    """The message as it goes out: the text part, the HTML part, and the inline images
    (multipart/related, each with its Content-ID), from the brand's sender and Reply-To."""
    from email.mime.image import MIMEImage

    mail = EmailMultiAlternatives(
        rendered.subject,
        rendered.text,
        sender.from_email or settings.DEFAULT_FROM_EMAIL,
        [to],
        headers=headers or {},
        reply_to=[sender.reply_to] if sender.reply_to else None,
    )
    mail.attach_alternative(rendered.html, "text/html")
    if rendered.images:
        mail.mixed_subtype = "related"
        for image in rendered.images:
            part = MIMEImage(image.content, _subtype=image.subtype)
            part.add_header("Content-ID", f"<{image.cid}>")
            part.add_header("Content-Disposition", "inline", filename=f"{image.cid}.png")
            mail.attach(part)
    return mail


def _esp_message_id(mail) -> str:
    """The provider's id of a sent message (django-anymail backends report it), matched
    later by the tracking webhook."""
    status = getattr(mail, "anymail_status", None)
    message_id = getattr(status, "message_id", None) if status is not None else None
    return str(message_id) if message_id else ""


def broadcasts_finish() -> None:
    """A broadcast is sent when none of its messages is still on its way."""
    Broadcast.objects.filter(status=Broadcast.Status.SENDING).exclude(
        Exists(
            MessageLog.objects.filter(
                broadcast=OuterRef("pk"), status__in=["scheduled", "queued", "sending"]
            )
        )
    ).update(status=Broadcast.Status.SENT)


# --- tracking and unsubscribe -----------------------------------------------------------


def _log_id(token: str) -> int | None:
    try:
        log_id = signing.loads(token, salt=TRACK_SALT, max_age=_track_max_age())
    except signing.BadSignature:  # forged, or expired (SignatureExpired)
        return None
    return log_id if isinstance(log_id, int) and not isinstance(log_id, bool) else None


def track_open(*, token: str) -> None:
    log_id = _log_id(token)
    if log_id is None:
        return
    MessageLog.objects.filter(pk=log_id, opened_at__isnull=True).update(opened_at=timezone.now())


def track_click(*, token: str, signed_url: str) -> str | None:
    """Record the click and return the original URL: only URLs we signed when the mail
    was made from a staff-written text (no open redirect), and only while the signature
    is younger than CARAT_TRACK_TOKEN_DAYS."""
    log_id = _log_id(token)
    try:
        url = signing.loads(signed_url, salt=LINK_SALT, max_age=_track_max_age())
    except signing.BadSignature:
        return None
    if log_id is None or not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    now = timezone.now()
    MessageLog.objects.filter(pk=log_id, clicked_at__isnull=True).update(clicked_at=now)
    MessageLog.objects.filter(pk=log_id, opened_at__isnull=True).update(opened_at=now)
    return url


class UnsubscribeLinkExpired(DomainError):
    """A genuine unsubscribe link older than CARAT_UNSUBSCRIBE_TOKEN_DAYS: the member
    changes their preferences after logging in."""

    status = 410


def _unsubscribe_member_id(token: str) -> int | None:
    """The member of a genuine, unexpired unsubscribe link; None if forged. Raises
    UnsubscribeLinkExpired for a genuine link past its lifetime."""
    try:
        member_id = signing.loads(token, salt=UNSUBSCRIBE_SALT, max_age=_unsubscribe_max_age())
    except signing.SignatureExpired:
        raise UnsubscribeLinkExpired(_("This unsubscribe link has expired.")) from None
    except signing.BadSignature:
        return None
    return member_id if isinstance(member_id, int) and not isinstance(member_id, bool) else None


def unsubscribe_target(*, token: str) -> Member | None:
    member_id = _unsubscribe_member_id(token)
    if member_id is None:
        return None
    return Member.objects.filter(pk=member_id, erased_at__isnull=True).first()


def unsubscribe(*, token: str) -> Member | None:
    member_id = _unsubscribe_member_id(token)
    if member_id is None:
        return None
    member = Member.objects.filter(pk=member_id).first()
    if member is None:
        return None
    if member.email_opt_in:
        member = member_update(member=member, source="unsubscribe", email_opt_in=False)
        last = MessageLog.objects.filter(member=member, status="sent").order_by("-sent_at").first()
        if last is not None:
            MessageLog.objects.filter(pk=last.pk).update(unsubscribed_at=timezone.now())
    return member


# --- results -------------------------------------------------------------------------


def message_results(*, days: int = 14) -> list[dict]:
    """Per trigger (and broadcast): sent, opened, clicked, unsubscribed, open rate, and
    members who bought within `days` days of the mail. One grouped query."""
    window = timedelta(days=days)
    bought = Exists(
        Member.objects.filter(
            pk=OuterRef("member_id"),
            purchases__occurred_at__gte=OuterRef("sent_at"),
            purchases__occurred_at__lt=OuterRef("sent_at") + window,
        )
    )
    rows = (
        MessageLog.objects.filter(status="sent")
        .annotate(bought=bought)
        .values("trigger")
        .annotate(
            sent=Count("id"),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            unsubscribed=Count("id", filter=Q(unsubscribed_at__isnull=False)),
            purchases=Count("id", filter=Q(bought=True)),
        )
        .order_by("trigger")
    )
    out = []
    for r in rows:
        r["open_rate"] = round(100 * r["opened"] / r["sent"], 1) if r["sent"] else 0.0
        out.append(r)
    return out


def broadcast_render(broadcast: Broadcast, member: Member) -> tuple[str, str]:
    """The broadcast as `member` would read it (subject, text part): the same
    composition as the sending (campaigns.mail.compose)."""
    from campaigns.mail.compose import preview

    mail = preview(member=member, language=member.language, broadcast=broadcast)
    return mail.subject, mail.text


def mail_test_send(*, to: str, member: Member, language: str, trigger: str = "", broadcast=None):
    """A test to the marketer: the mail `member` would get in `language`, exactly as
    composed for sending (HTML, text, images); not logged, no gift given."""
    from campaigns.mail.compose import brand, preview

    rendered = preview(member=member, language=language, trigger=trigger, broadcast=broadcast)
    rendered.subject = f"[TEST] {rendered.subject}"
    build_email(rendered, to=to, sender=brand()).send()
    return rendered


def broadcast_test_send(*, broadcast: Broadcast, to: str) -> None:
    """A test to the marketer, rendered for the first member of the segment; not logged."""
    member = segment_members(broadcast.segment).order_by("pk").first() or Member(
        first_name="Test", language="en", email=to
    )
    mail_test_send(to=to, member=member, language=member.language, broadcast=broadcast)
