"""This week's outreach (pos.clienteling.outreach): who is on the list, and each contact
logged through the message log, the consent and the weekly cap."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns.models import MessageLog, Program
from campaigns.services.dispatch import messages_dispatch
from loyalty.kernel.errors import DomainError
from loyalty.kernel.roles import STORE_MANAGER, STORE_STAFF, role_grant, roles_apply
from members.models import Member
from pos.clienteling.models import ClientContact, StoreClient
from pos.clienteling.outreach import contact_log, outreach_for
from pos.clienteling.services import client_note_add, client_profile_update
from tests.factories import UserFactory


@pytest.fixture
def team(antwerp, program):
    roles_apply()
    sam = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    role_grant(user=sam, role=STORE_STAFF, stores=[antwerp])
    mia = UserFactory(email="mia@carat.example", full_name="Mia Manager")
    role_grant(user=mia, role=STORE_MANAGER, stores=[antwerp])
    return {"sam": sam, "mia": mia}


def client_of(store, enroll, **fields):
    member = enroll(**{k: v for k, v in fields.items() if k in ("email", "first_name")})
    extra = {k: v for k, v in fields.items() if k not in ("email", "first_name")}
    if extra:
        Member.objects.filter(pk=member.pk).update(**extra)
        member.refresh_from_db()
    StoreClient.objects.create(store=store, member=member, reason="registered")
    return member


def in_days(n, year=1990):
    d = timezone.localdate() + timedelta(days=n)
    return date(year, d.month, min(d.day, 28))


@pytest.mark.django_db
def test_the_list_shows_an_anniversary_in_ten_days_and_not_one_in_thirty(antwerp, team, enroll):
    soon = client_of(
        antwerp, enroll, email="soon@example.com", first_name="Soon",
        wedding_anniversary=in_days(10, 2001),
    )  # fmt: skip
    client_of(
        antwerp, enroll, email="later@example.com", first_name="Later",
        wedding_anniversary=in_days(30, 2001),
    )  # fmt: skip
    result = outreach_for(antwerp, team["mia"], manager=True)
    assert [(o.member, o.label) for o in result.occasions] == [(soon, "Wedding anniversary")]
    assert result.occasions[0].days in (10, 9, 8, 7)  # 28th cap at month ends


@pytest.mark.django_db
def test_staff_see_their_clients_and_unassigned_ones_managers_all(antwerp, team, enroll):
    other = UserFactory(email="eva@carat.example")
    antwerp.staff.add(other)
    mine = client_of(antwerp, enroll, email="a@example.com", birth_date=in_days(3))
    theirs = client_of(antwerp, enroll, email="b@example.com", birth_date=in_days(3))
    free = client_of(antwerp, enroll, email="c@example.com", birth_date=in_days(3))
    client_profile_update(member=mine, actor=None, associate=team["sam"])
    client_profile_update(member=theirs, actor=None, associate=other)
    staff = {o.member for o in outreach_for(antwerp, team["sam"], manager=False).occasions}
    manager = {o.member for o in outreach_for(antwerp, team["mia"], manager=True).occasions}
    assert staff == {mine, free}
    assert manager == {mine, theirs, free}


@pytest.mark.django_db
def test_follow_ups_due_until_a_contact_is_logged(antwerp, team, enroll):
    member = client_of(antwerp, enroll, email="f@example.com")
    note = client_note_add(
        member=member, store=antwerp, author=team["sam"], text="Call about the resizing",
        follow_up_on=timezone.localdate() + timedelta(days=2),
    )  # fmt: skip
    assert outreach_for(antwerp, team["mia"], manager=True).follow_ups == [note]
    contact_log(member=member, store=antwerp, associate=team["sam"], channel="call")
    assert outreach_for(antwerp, team["mia"], manager=True).follow_ups == []


@pytest.mark.django_db
def test_a_call_is_in_the_message_log_and_counts_for_the_cap(
    antwerp, team, enroll, django_capture_on_commit_callbacks
):
    Program.objects.update(weekly_mail_cap=1)
    member = client_of(antwerp, enroll, email="g@example.com", first_name="Gail")
    Member.objects.filter(pk=member.pk).update(email_opt_in=True)
    member.refresh_from_db()
    contact_log(member=member, store=antwerp, associate=team["sam"], channel="call", note="Hi")
    row = MessageLog.objects.get(member=member, trigger="outreach_call")
    assert (row.status, row.marketing) == ("sent", True)
    # The e-mail after the call is over the weekly cap of 1: held back by the dispatcher.
    contact_log(
        member=member, store=antwerp, associate=team["sam"], channel="email",
        subject="Hello {{ first_name }}", body="Dear {{ first_name }}, see you soon.",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        messages_dispatch()
    assert MessageLog.objects.get(member=member, trigger="outreach_email").status == "capped"
    assert mail.outbox == []


@pytest.mark.django_db
def test_an_email_goes_through_the_mail_path_with_the_sandbox(
    antwerp, team, enroll, django_capture_on_commit_callbacks
):
    member = client_of(antwerp, enroll, email="h@example.com", first_name="Hana")
    Member.objects.filter(pk=member.pk).update(email_opt_in=True)
    member.refresh_from_db()
    contact = contact_log(
        member=member, store=antwerp, associate=team["sam"], channel="email",
        subject="For you, {{ first_name }}", body="Dear {{ first_name }},\n\nYour ring is ready.",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        messages_dispatch()
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.subject == "For you, Hana"
    assert "Your ring is ready." in sent.body and "Sam Shop, Carat Antwerp" in sent.body
    contact.refresh_from_db()
    assert contact.message.status == "sent"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "subject, body",
    [
        ("{{ member.user.password }}", "x"),
        ("Hi", "{% load static %}{{ 1|add:1 }}"),
        ("", "text"),
    ],
)
def test_email_texts_outside_the_sandbox_are_refused(antwerp, team, enroll, subject, body):
    member = client_of(antwerp, enroll, email="i@example.com")
    Member.objects.filter(pk=member.pk).update(email_opt_in=True)
    member.refresh_from_db()
    with pytest.raises(DomainError):
        contact_log(
            member=member, store=antwerp, associate=team["sam"], channel="email",
            subject=subject, body=body,
        )  # fmt: skip
    assert not ClientContact.objects.exists() and not MessageLog.objects.exists()


@pytest.mark.django_db
def test_no_email_without_consent(antwerp, team, enroll):
    member = client_of(antwerp, enroll, email="j@example.com")
    with pytest.raises(DomainError) as exc:
        contact_log(
            member=member, store=antwerp, associate=team["sam"], channel="email",
            subject="Hi", body="Hello",
        )  # fmt: skip
    assert exc.value.code == "no_consent"
    assert not MessageLog.objects.exists()


@pytest.mark.django_db
def test_outreach_page_and_contact_form(client, antwerp, team, enroll):
    member = client_of(
        antwerp, enroll, email="k@example.com", first_name="Kim",
        wedding_anniversary=in_days(10, 2001),
    )  # fmt: skip
    client.force_login(team["sam"])
    page = client.get(reverse("pos:outreach")).content.decode()
    assert "Kim" in page and "Wedding anniversary" in page
    book = client.get(
        reverse("pos:client_book", args=[member.member_number]), {"template": "occasion"}
    ).content.decode()
    assert "A special date is coming" in book
    r = client.post(
        reverse("pos:client_contact", args=[member.member_number]),
        {"channel": "message", "note": "WhatsApp about the anniversary"},
    )
    assert r.status_code == 302
    assert ClientContact.objects.get(member=member).channel == "message"
    r = client.post(
        reverse("pos:client_contact", args=[member.member_number]),
        {"channel": "email", "subject": "Hi", "body": "Hello"},
    )
    assert r.status_code == 400 and "not agreed to e-mails" in r.content.decode()
