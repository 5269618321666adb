"""This week's outreach for a store: who to contact and why, and the logging of each
contact (a call, a message, or an e-mail sent through the program's mail path).

Every contact writes a campaigns.MessageLog row: it shows in the message log and counts
for the weekly mail cap (the dispatcher counts marketing rows queued or sent in the last
7 days). An e-mail is a marketing mail: it needs the client's e-mail consent, and the
dispatcher may still hold it back at the cap. Its text is the associate's, written in the
mail sandbox (campaigns.mailtext: plain text with {{ first_name }}-style variables, never
a Django template) and rendered when the contact is logged."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns import mailtext
from campaigns.models import MessageLog
from loyalty.kernel.errors import DomainError
from members.models import Member
from tiers.models import MemberTier

from .models import ClientContact, ClientNote, ClientProfile, WishlistItem
from .selectors import client_scope

WINDOW_DAYS = 14
LIMIT = 100  # rows per list: a week's work, not the whole book
EMAIL_TRIGGER = "outreach_email"

# Built-in e-mail templates the associate starts from (editable before sending), in the
# mail sandbox's syntax. Translated into the client's language when offered.
TEMPLATES = {
    "occasion": (
        gettext_lazy("A special date is coming, {{ first_name }}"),
        gettext_lazy(
            "Dear {{ first_name }},\n\nA special date is coming and we would love to help you "
            "mark it. Come and see us at the store: we will have a few pieces ready for you."
        ),
    ),
    "wishlist": (
        gettext_lazy("About the piece you wished for, {{ first_name }}"),
        gettext_lazy(
            "Dear {{ first_name }},\n\nThe piece on your wishlist is waiting for you at the "
            "store. Tell us when you would like to see it and we will set it aside."
        ),
    ),
    "thinking_of_you": (
        gettext_lazy("We thought of you, {{ first_name }}"),
        gettext_lazy(
            "Dear {{ first_name }},\n\nWe have new pieces we think you will love. "
            "We would be delighted to show them to you at the store."
        ),
    ),
}


def template_texts(key: str, member: Member) -> tuple[str, str]:
    subject, body = TEMPLATES.get(key, TEMPLATES["thinking_of_you"])
    with translation.override(member.language):
        return str(subject), str(body)


@dataclass
class Occasion:
    member: Member
    label: str
    on: date
    days: int


@dataclass
class Outreach:
    occasions: list[Occasion]
    wishes: list[WishlistItem]
    follow_ups: list[ClientNote]
    ambassadors: list[Member]
    mine_only: bool


def _month_days(today: date, days: int) -> list[tuple[int, int]]:
    return [((d := today + timedelta(days=i)).month, d.day) for i in range(days + 1)]


def _next(on: date, today: date) -> date:
    for year in (today.year, today.year + 1):
        try:
            candidate = on.replace(year=year)
        except ValueError:  # 29 February in a common year: the 28th
            candidate = date(year, 2, 28)
        if candidate >= today:
            return candidate
    return on


def _md_q(field: str, pairs) -> Q:
    q = Q()
    for month, day in pairs:
        q |= Q(**{f"{field}__month": month, f"{field}__day": day})
    return q


def outreach_for(store, user, *, manager: bool, today: date | None = None) -> Outreach:
    """The store's list (a manager), or the associate's own clients and the clients who
    have no associate yet (store staff)."""
    today = today or timezone.localdate()
    clients = Member.objects.filter(client_scope([store]), erased_at__isnull=True)
    if not manager:
        theirs = ClientProfile.objects.filter(member=OuterRef("pk"), associate__isnull=False)
        mine = ClientProfile.objects.filter(member=OuterRef("pk"), associate=user)
        clients = clients.filter(Q(Exists(mine)) | ~Q(Exists(theirs)))
    pairs = _month_days(today, WINDOW_DAYS)
    occasions = []
    labels = (
        ("birth_date", _("Birthday")),
        ("wedding_anniversary", _("Wedding anniversary")),
    )
    for field, label in labels:
        for m in clients.filter(_md_q(field, pairs))[:LIMIT]:
            on = _next(getattr(m, field), today)
            occasions.append(Occasion(m, label, on, (on - today).days))
    partner = ClientProfile.objects.filter(
        _md_q("partner_birthday", pairs), member__in=clients
    ).select_related("member")[:LIMIT]
    for p in partner:
        on = _next(p.partner_birthday, today)
        occasions.append(Occasion(p.member, _("Partner's birthday"), on, (on - today).days))
    occasions.sort(key=lambda o: (o.days, o.member.last_name, o.member.pk))
    since = timezone.now() - timedelta(days=WINDOW_DAYS)
    wishes = list(
        WishlistItem.objects.filter(
            member__in=clients, removed_at__isnull=True, created_at__gte=since
        )
        .select_related("member")
        .order_by("-created_at")[:LIMIT]
    )
    contacted_since = ClientContact.objects.filter(
        member=OuterRef("member"), created_at__gte=OuterRef("created_at")
    )
    follow_ups = list(
        ClientNote.objects.filter(
            member__in=clients,
            follow_up_on__isnull=False,
            follow_up_on__lte=today + timedelta(days=7),
            follow_up_on__gte=today - timedelta(days=30),
        )
        .exclude(Exists(contacted_since))
        .select_related("member", "author")
        .order_by("follow_up_on")[:LIMIT]
    )
    recent_contact = ClientContact.objects.filter(
        member=OuterRef("member"), created_at__gte=timezone.now() - timedelta(days=30)
    )
    ambassadors = [
        s.member
        for s in MemberTier.objects.filter(tier__invite_only=True, member__in=clients)
        .exclude(Exists(recent_contact))
        .select_related("member")
        .order_by("member__last_name")[:LIMIT]
    ]
    return Outreach(occasions, wishes, follow_ups, ambassadors, mine_only=not manager)


def contact_log(
    *,
    member: Member,
    store,
    associate,
    channel: str,
    reason: str = "",
    note: str = "",
    subject: str = "",
    body: str = "",
) -> ClientContact:
    """Log a contact; for an e-mail, claim it on the mail path (sent by the dispatcher)."""
    if channel not in ClientContact.Channel.values:
        raise DomainError(_("Choose how you contacted the client."), field="channel")
    note = (note or "").strip()[:300]
    now = timezone.now()
    message_fields = {}
    if channel == ClientContact.Channel.EMAIL:
        if not member.email_opt_in:
            raise DomainError(
                _("This client has not agreed to e-mails: call or send a message instead."),
                code="no_consent",
                field="channel",
            )
        subject, body = (subject or "").strip(), (body or "").strip()
        if not subject or not body:
            raise DomainError(_("Write the e-mail's subject and text."), field="body")
        for field, text in (("subject", subject), ("body", body)):
            try:
                mailtext.validate_mail_text(text)
            except ValidationError as exc:
                raise DomainError(" ".join(exc.messages), field=field) from None
        from campaigns.services.crm import mail_values

        with translation.override(member.language):
            needed = mailtext.names(subject) | mailtext.names(body)
            values = mail_values(member=member, needed=needed)
            message_fields = {
                "subject": mailtext.render(subject, values).strip()[:200],
                "body": mailtext.render(body, values).strip(),
                "signature": f"{associate.get_full_name()}, {store.name}",
            }
    with transaction.atomic():
        contact = ClientContact.objects.create(
            member=member,
            store=store,
            associate=associate,
            channel=channel,
            reason=(reason or "")[:24],
            note=note,
        )
        if channel == ClientContact.Channel.EMAIL:
            log = MessageLog.objects.create(
                member=member,
                trigger=EMAIL_TRIGGER,
                occasion=f"contact:{contact.pk}",
                marketing=True,
                priority=20,
                due_at=now,
                status=MessageLog.Status.SCHEDULED,
                context=message_fields,
            )
        else:
            # A call or a message happened already: in the log as sent, counted for the cap.
            log = MessageLog.objects.create(
                member=member,
                trigger=f"outreach_{channel}",
                occasion=f"contact:{contact.pk}",
                marketing=True,
                priority=20,
                due_at=now,
                status=MessageLog.Status.SENT,
                sent_at=now,
                body=note,
            )
        ClientContact.objects.filter(pk=contact.pk).update(message=log)
        contact.message = log
    return contact


def recent_contacts(member: Member, limit: int = 10) -> list[ClientContact]:
    return list(
        ClientContact.objects.filter(member=member)
        .select_related("associate", "message", "store")
        .order_by("-created_at", "-pk")[:limit]
    )
