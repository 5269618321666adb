"""Appointments (pos.clienteling): booking, the day view, the mails through the program's
mail path, and an associate never double-booked -- by the database, under real
concurrency."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns.models import MessageLog
from campaigns.services.dispatch import messages_dispatch
from loyalty.kernel.errors import Conflict, DomainError
from pos.clienteling.models import Appointment, AppointmentSlot, StoreClient
from pos.clienteling.services import appointment_book, appointment_cancel
from tests.factories import UserFactory
from tests.helpers import run_in_threads

BRUSSELS = ZoneInfo("Europe/Brussels")


def at(days, hour, minute=0):
    day = timezone.localdate() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BRUSSELS)


@pytest.fixture
def team(antwerp):
    sam = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    eva = UserFactory(email="eva@carat.example", full_name="Eva Stone")
    antwerp.staff.add(sam, eva)
    return {"sam": sam, "eva": eva}


@pytest.fixture
def ada(enroll):
    return enroll(email="ada@example.com", first_name="Ada", last_name="Lovelace")


def book(store, member, associate, starts_at, minutes=60, purpose="styling"):
    return appointment_book(
        store=store,
        member=member,
        associate=associate,
        starts_at=starts_at,
        minutes=minutes,
        purpose=purpose,
    )


@pytest.mark.django_db
def test_an_overlapping_booking_for_the_same_associate_is_refused(antwerp, team, ada, enroll):
    bob = enroll(email="bob@example.com", first_name="Bob")
    book(antwerp, ada, team["sam"], at(2, 10), 60)
    with pytest.raises(Conflict) as exc:
        book(antwerp, bob, team["sam"], at(2, 10, 45), 30)
    assert exc.value.code == "associate_booked"
    # Back to back is fine, and so is another associate at the same time.
    book(antwerp, bob, team["sam"], at(2, 11), 30)
    book(antwerp, bob, team["eva"], at(2, 10), 60)
    assert Appointment.objects.count() == 3


@pytest.mark.django_db
def test_a_cancelled_appointment_frees_the_time(antwerp, team, ada):
    first = book(antwerp, ada, team["sam"], at(2, 10))
    appointment_cancel(appointment=first)
    assert not AppointmentSlot.objects.filter(appointment=first).exists()
    book(antwerp, ada, team["sam"], at(2, 10))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "starts, minutes, purpose",
    [
        (lambda: at(2, 10, 10), 60, "styling"),  # not on a quarter hour
        (lambda: at(-1, 10), 60, "styling"),  # past
        (lambda: at(400, 10), 60, "styling"),  # too far ahead
        (lambda: at(2, 10), 61, "styling"),
        (lambda: at(2, 10), 60, "tea"),
    ],
)
def test_bad_bookings_are_refused_cleanly(antwerp, team, ada, starts, minutes, purpose):
    with pytest.raises(DomainError):
        book(antwerp, ada, team["sam"], starts(), minutes, purpose)
    assert not Appointment.objects.exists() and not AppointmentSlot.objects.exists()


@pytest.mark.django_db
def test_an_associate_of_another_store_cannot_be_booked(antwerp, london, ada):
    lou = UserFactory(email="lou@carat.example")
    london.staff.add(lou)
    with pytest.raises(DomainError):
        book(antwerp, ada, lou, at(2, 10))


@pytest.mark.django_db
def test_confirmation_now_and_reminder_the_day_before_through_the_mail_path(
    antwerp, team, ada, django_capture_on_commit_callbacks
):
    # No marketing consent: these are service mails the client asked for.
    assert not ada.email_opt_in
    appointment = book(antwerp, ada, team["sam"], at(3, 14, 30), purpose="viewing")
    rows = MessageLog.objects.filter(member=ada).order_by("due_at")
    assert [(r.trigger, r.marketing) for r in rows] == [
        ("appointment_confirmed", False),
        ("appointment_reminder", False),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        messages_dispatch()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [ada.email]
    assert "Carat Antwerp" in message.subject
    assert "14:30" in message.body and "Sam" in message.body and "private viewing" in message.body
    with django_capture_on_commit_callbacks(execute=True):
        messages_dispatch(now=appointment.starts_at - timedelta(hours=23))
    assert len(mail.outbox) == 2
    assert "Tomorrow" in mail.outbox[1].subject


@pytest.mark.django_db
def test_a_cancelled_appointment_sends_no_reminder(antwerp, team, ada):
    appointment = book(antwerp, ada, team["sam"], at(3, 10))
    appointment_cancel(appointment=appointment)
    reminder = MessageLog.objects.get(member=ada, trigger="appointment_reminder")
    assert reminder.status == "cancelled"


@pytest.mark.django_db
def test_booking_at_the_counter_shows_in_the_day_view(client, antwerp, team, ada, program):
    StoreClient.objects.create(store=antwerp, member=ada, reason="registered")
    client.force_login(team["sam"])
    day = at(2, 10).date()
    response = client.post(
        reverse("pos:appointment_book", args=[ada.member_number]),
        {
            "store": "antwerp",
            "day": day.isoformat(),
            "time": "15:15",
            "minutes": "45",
            "associate": str(team["eva"].pk),
            "purpose": "fitting",
        },
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "15:15" in page and "16:00" in page and "Lovelace" in page and "Eva" in page
    # The same time again for Eva: refused on the form, with the reason, nothing booked.
    again = client.post(
        reverse("pos:appointment_book", args=[ada.member_number]),
        {
            "store": "antwerp",
            "day": day.isoformat(),
            "time": "15:30",
            "minutes": "30",
            "associate": str(team["eva"].pk),
            "purpose": "fitting",
        },
    )
    assert again.status_code == 409
    assert "already has an appointment" in again.content.decode()
    assert Appointment.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("date", ["2026-02-31", "nonsense", "9999-12-31", ""])
def test_day_view_odd_dates_are_never_a_500(client, antwerp, team, program, date):
    client.force_login(team["sam"])
    assert client.get(reverse("pos:day"), {"date": date}).status_code == 200


@pytest.mark.postgresql  # threads racing on the unique slots need real row locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_bookings_leave_the_associate_booked_once(program, antwerp):
    """Eight tills book Sam at the same moment, at overlapping times (10:00, 10:15, 10:30,
    10:45 for an hour: all hold 10:45). The database lets exactly one through; the others
    get the Conflict (never a 500, a deadlock or a half-written booking)."""
    from campaigns.services import member_enroll

    sam = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    antwerp.staff.add(sam)
    members = [member_enroll(email=f"c{i}@example.com") for i in range(8)]

    def attempt(i):
        return book(antwerp, members[i], sam, at(2, 10, 15 * (i % 4)))

    results = run_in_threads(attempt, 8)
    booked = [r for r in results if isinstance(r, Appointment)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(booked) == 1, results
    assert len(refused) == 7, results
    assert Appointment.objects.count() == 1
    assert AppointmentSlot.objects.count() == 4
    assert MessageLog.objects.filter(trigger="appointment_confirmed").count() == 1
