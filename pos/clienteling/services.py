"""The only writers of the client book (pos.clienteling.models)."""

from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.kernel.errors import Conflict, DomainError
from members.models import Member, User

from .models import (
    SLOT_MINUTES,
    Appointment,
    AppointmentSlot,
    ClientNote,
    ClientProfile,
    StoreClient,
    WishlistItem,
)

NOTE_MAX = 2000
PROFILE_FIELDS = (
    "metals",
    "stones",
    "style",
    "ring_size",
    "bracelet_size",
    "partner_name",
    "partner_birthday",
)


def store_client_add(*, store, member: Member, reason: str) -> None:
    """Put the member in the store's client book (once; the first reason stays)."""
    try:
        with transaction.atomic():
            StoreClient.objects.get_or_create(
                store=store, member=member, defaults={"reason": reason}
            )
    except IntegrityError:  # a concurrent scan wrote it first
        pass


def client_note_add(
    *, member: Member, store, author: User, text: str, follow_up_on: date | None = None
) -> ClientNote:
    text = (text or "").strip()
    if not text:
        raise DomainError(_("Write the note first."), field="text")
    if len(text) > NOTE_MAX:
        raise DomainError(
            _("A note holds at most %(n)s characters.") % {"n": NOTE_MAX}, field="text"
        )
    if follow_up_on is not None and follow_up_on < timezone.localdate():
        raise DomainError(_("A follow-up date cannot be in the past."), field="follow_up_on")
    return ClientNote.objects.create(
        member=member, store=store, author=author, text=text, follow_up_on=follow_up_on
    )


def client_profile_update(*, member: Member, actor: User | None, **fields) -> ClientProfile:
    """Preferences, sizes, the partner, the client's associate. Only the fields given."""
    unknown = set(fields) - set(PROFILE_FIELDS) - {"associate"}
    if unknown:
        raise DomainError(f"Unknown client book fields: {sorted(unknown)}.")
    with transaction.atomic():
        profile, _created = ClientProfile.objects.select_for_update().get_or_create(member=member)
        for name, value in fields.items():
            setattr(profile, name, value.strip() if isinstance(value, str) else value)
        profile.updated_by = actor
        profile.save()
    return profile


def wishlist_add(
    *, member: Member, description: str, sku: str = "", source: str, actor=None, store=None
) -> WishlistItem:
    description = (description or "").strip()
    if not description:
        raise DomainError(_("Describe the piece."), field="description")
    if member.wishlist.filter(removed_at__isnull=True).count() >= 50:
        raise DomainError(_("The wishlist holds at most 50 pieces."), field="description")
    return WishlistItem.objects.create(
        member=member,
        description=description[:160],
        sku=(sku or "").strip()[:64],
        source=source,
        added_by=actor,
        store=store,
    )


def wishlist_remove(*, member: Member, item_id: int) -> None:
    WishlistItem.objects.filter(member=member, pk=item_id, removed_at__isnull=True).update(
        removed_at=timezone.now()
    )


# --- appointments --------------------------------------------------------------------------

DURATIONS = (30, 45, 60, 90, 120)  # minutes offered


def appointment_book(
    *,
    store,
    member: Member,
    associate: User,
    starts_at: datetime,
    minutes: int,
    purpose: str,
    note: str = "",
    actor: User | None = None,
) -> Appointment:
    """Book the associate's time. Their quarter hours are unique rows
    (AppointmentSlot): an overlapping booking, even one committed a moment earlier by
    another till, is refused by the database and answered with a Conflict."""
    if timezone.is_naive(starts_at):
        raise DomainError(_("Choose a date and a time."), field="starts_at")
    if starts_at.minute % SLOT_MINUTES or starts_at.second or starts_at.microsecond:
        raise DomainError(_("Appointments start on the quarter hour."), field="starts_at")
    if minutes not in DURATIONS:
        raise DomainError(_("Choose a duration."), field="minutes")
    if purpose not in Appointment.Purpose.values:
        raise DomainError(_("Choose what the appointment is for."), field="purpose")
    if starts_at < timezone.now():
        raise DomainError(_("This time has passed: choose a later one."), field="starts_at")
    if starts_at > timezone.now() + timedelta(days=366):
        raise DomainError(_("Book at most a year ahead."), field="starts_at")
    if not store.staff.filter(pk=associate.pk, is_active=True).exists():
        raise DomainError(_("Choose an associate of this store."), field="associate")
    appointment = Appointment(
        store=store,
        member=member,
        associate=associate,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        purpose=purpose,
        note=(note or "").strip()[:200],
        created_by=actor,
    )
    try:
        with transaction.atomic():
            appointment.save()
            AppointmentSlot.objects.bulk_create(
                AppointmentSlot(appointment=appointment, associate=associate, starts_at=t)
                for t in appointment.slots()
            )
            from .messages import appointment_mails_claim

            appointment_mails_claim(appointment)
    except IntegrityError:
        raise Conflict(
            _("%(name)s already has an appointment at that time: choose another time.")
            % {"name": associate.get_short_name()},
            code="associate_booked",
            field="starts_at",
        ) from None
    return appointment


def appointment_cancel(*, appointment: Appointment, actor: User | None = None) -> Appointment:
    with transaction.atomic():
        updated = Appointment.objects.filter(
            pk=appointment.pk, status=Appointment.Status.BOOKED
        ).update(status=Appointment.Status.CANCELLED)
        if updated:
            AppointmentSlot.objects.filter(appointment=appointment).delete()
            from .messages import appointment_mails_cancel

            appointment_mails_cancel(appointment)
    appointment.refresh_from_db()
    return appointment
