"""Appointment mails through the program's mail path: each is a MessageLog row claimed
once per appointment (unique member, trigger, occasion), decided and sent by the
dispatcher (campaigns.services.dispatch.messages_dispatch -> send_messages), rendered from
the built-in texts templates/campaigns/email/appointment_*. They are service mails (the
client asked for the appointment): no marketing consent needed, not counted in the weekly
cap. The facts go in as plain values computed now, in the client's language and the
store's time zone; an associate's note never goes into a mail."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation

from campaigns.models import MessageLog

CONFIRMED = "appointment_confirmed"
REMINDER = "appointment_reminder"
REMINDER_BEFORE = timedelta(hours=24)


def _zone(store):
    try:
        return ZoneInfo(store.time_zone)
    except (ValueError, KeyError):
        return ZoneInfo(settings.TIME_ZONE)


def _facts(appointment) -> dict:
    member = appointment.member
    with translation.override(member.language):
        local = timezone.localtime(appointment.starts_at, _zone(appointment.store))
        return {
            "store": appointment.store.name,
            "city": appointment.store.city,
            "day": formats.date_format(local, "DATE_FORMAT"),
            "time": formats.time_format(local, "TIME_FORMAT"),
            "associate": appointment.associate.get_short_name(),
            "purpose": str(appointment.get_purpose_display()),
        }


def _claim(appointment, trigger: str, due_at) -> None:
    try:
        with transaction.atomic():
            MessageLog.objects.create(
                member=appointment.member,
                trigger=trigger,
                occasion=f"appointment:{appointment.pk}",
                marketing=False,
                priority=10,
                due_at=due_at,
                status=MessageLog.Status.SCHEDULED,
                context=_facts(appointment),
            )
    except IntegrityError:  # claimed already (a replay): once per appointment
        pass


def appointment_mails_claim(appointment) -> None:
    """The confirmation now; the reminder a day before (none if that has passed)."""
    now = timezone.now()
    _claim(appointment, CONFIRMED, now)
    if appointment.starts_at - REMINDER_BEFORE > now:
        _claim(appointment, REMINDER, appointment.starts_at - REMINDER_BEFORE)


def appointment_mails_cancel(appointment) -> None:
    """A cancelled appointment's mails that have not gone out yet are not sent."""
    MessageLog.objects.filter(
        member=appointment.member,
        trigger__in=(CONFIRMED, REMINDER),
        occasion=f"appointment:{appointment.pk}",
        status=MessageLog.Status.SCHEDULED,
    ).update(status="cancelled")
