"""Segments, trigger e-mails, the weekly cap, consent, unsubscribe and tracking.

Time is frozen by passing `now` to the jobs."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns.models import (
    Broadcast,
    MessageLog,
    Program,
    Segment,
    SegmentCondition,
    TriggerConfig,
)
from campaigns.segments import segment_members
from campaigns.services import (
    broadcast_schedule,
    broadcasts_select,
    cart_abandoned,
    message_results,
    messages_dispatch,
    triggers_select,
)
from campaigns.services.crm import track_token, unsubscribe_token
from members.models import ConsentChange, Member
from pos.services import purchase_record
from tests.helpers import run_in_threads

BRU = ZoneInfo("Europe/Brussels")
NOON = datetime(2026, 6, 15, 12, 0, tzinfo=BRU)


def config(trigger, **kw):
    kw.setdefault("subject_en", f"{trigger} for {{{{ member.first_name }}}}")
    kw.setdefault(
        "body_en",
        "Hello {{ member.first_name }}, you have {{ balance }} carats. https://shop.example/new",
    )
    return TriggerConfig.objects.create(trigger=trigger, **kw)


def person(enroll, **fields):
    m = enroll(email_opt_in=fields.pop("email_opt_in", True))
    Member.objects.filter(pk=m.pk).update(**fields)
    m.refresh_from_db()
    return m


def run(now, capture):
    with capture(execute=True):
        triggers_select(now=now)
        broadcasts_select(now=now)
        return messages_dispatch(now=now)


def sent(trigger):
    return list(
        MessageLog.objects.filter(trigger=trigger, status="sent").values_list(
            "member__email", flat=True
        )
    )


def test_welcome_goes_the_day_after_joining_only(enroll, django_capture_on_commit_callbacks):
    config("welcome", offset_days=1, marketing=False)
    m = person(enroll, joined_at=NOON)
    run(NOON, django_capture_on_commit_callbacks)
    assert sent("welcome") == []
    run(NOON + timedelta(days=1), django_capture_on_commit_callbacks)
    assert sent("welcome") == [m.email]
    run(NOON + timedelta(days=1, hours=3), django_capture_on_commit_callbacks)
    run(NOON + timedelta(days=2), django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1


def test_birthday_fires_on_the_local_day_of_each_member(enroll, django_capture_on_commit_callbacks):
    config("birthday", priority=10)
    # 23:30 on 14 June in Brussels is already 15 June in Tokyo
    late = datetime(2026, 6, 14, 23, 30, tzinfo=BRU)
    tokyo = person(enroll, time_zone="Asia/Tokyo", birth_date=datetime(1990, 6, 15).date())
    brussels = person(enroll, birth_date=datetime(1991, 6, 15).date())
    run(late, django_capture_on_commit_callbacks)
    assert sent("birthday") == [tokyo.email]
    run(late + timedelta(hours=1), django_capture_on_commit_callbacks)
    assert sorted(sent("birthday")) == sorted([tokyo.email, brussels.email])
    assert len(mail.outbox) == 2


def test_birthday_week_before_and_win_back_after_180_days(
    enroll, django_capture_on_commit_callbacks
):
    config("birthday_soon", offset_days=7)
    config("win_back", offset_days=180)
    soon = person(enroll, birth_date=datetime(1980, 6, 22).date())
    lapsed = person(enroll, last_purchase_at=NOON - timedelta(days=180), purchase_count=1)
    recent = person(enroll, last_purchase_at=NOON - timedelta(days=179), purchase_count=1)
    run(NOON, django_capture_on_commit_callbacks)
    assert sent("birthday_soon") == [soon.email]
    assert sent("win_back") == [lapsed.email]
    assert recent.email not in sent("win_back")


def test_no_marketing_mail_without_consent(enroll, django_capture_on_commit_callbacks):
    config("birthday")
    person(enroll, birth_date=datetime(1990, 6, 15).date(), email_opt_in=False)
    withdrawn = person(enroll, birth_date=datetime(1990, 6, 15).date())
    triggers_select(now=NOON)
    # consent withdrawn between selection and dispatch: skipped, not sent
    Member.objects.filter(pk=withdrawn.pk).update(email_opt_in=False)
    with django_capture_on_commit_callbacks(execute=True):
        report = messages_dispatch(now=NOON)
    assert report.skipped == 1
    assert mail.outbox == []


def test_weekly_cap_lets_the_highest_priority_win(enroll, django_capture_on_commit_callbacks):
    Program.objects.update(weekly_mail_cap=1)
    config("birthday", priority=10)
    config("win_back", priority=60, offset_days=180)
    m = person(
        enroll, birth_date=datetime(1990, 6, 15).date(), last_purchase_at=NOON - timedelta(days=180)
    )
    report = run(NOON, django_capture_on_commit_callbacks)
    assert (report.queued, report.capped) == (1, 1)
    assert sent("birthday") == [m.email]
    assert MessageLog.objects.get(trigger="win_back").status == "capped"


def test_service_mails_are_not_capped(enroll, django_capture_on_commit_callbacks):
    Program.objects.update(weekly_mail_cap=1)
    config("birthday", priority=10)
    config("welcome", marketing=False, offset_days=0)
    person(enroll, birth_date=datetime(1990, 6, 15).date(), joined_at=NOON)
    report = run(NOON, django_capture_on_commit_callbacks)
    assert report.queued == 2


def test_job_run_twice_and_two_workers_send_each_mail_once(
    enroll, django_capture_on_commit_callbacks
):
    config("birthday")
    for _ in range(5):
        person(enroll, birth_date=datetime(1990, 6, 15).date())
    run(NOON, django_capture_on_commit_callbacks)
    run(NOON, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 5
    assert MessageLog.objects.filter(status="sent").count() == 5


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_send_each_mail_exactly_once(enroll):
    config("birthday")
    for i in range(30):
        person(enroll, email=f"p{i}@example.com", birth_date=datetime(1990, 6, 15).date())
    triggers_select(now=NOON)

    def work(i):
        triggers_select(now=NOON)
        return messages_dispatch(now=NOON)

    results = run_in_threads(work, 4)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.queued for r in results) == 30
    assert MessageLog.objects.filter(status="sent").count() == 30
    assert len(mail.outbox) == 30


def test_marketing_mail_has_unsubscribe_link_and_header_and_it_works(
    client, enroll, django_capture_on_commit_callbacks
):
    config("birthday")
    m = person(enroll, birth_date=datetime(1990, 6, 15).date())
    run(NOON, django_capture_on_commit_callbacks)
    message = mail.outbox[0]
    url = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in message.body
    path = url.split("://", 1)[1].split("/", 1)[1]
    confirm = client.get("/" + path)  # a link scanner's GET changes nothing
    assert 'id="unsubscribe"' in confirm.content.decode()
    m.refresh_from_db()
    assert m.email_opt_in
    response = client.post("/" + path)
    assert "You are unsubscribed" in response.content.decode()
    m.refresh_from_db()
    assert not m.email_opt_in and m.email_opt_in_at is not None
    assert ConsentChange.objects.filter(member=m, granted=False, source="unsubscribe").exists()
    assert MessageLog.objects.get(member=m).unsubscribed_at is not None
    # the one-click POST from a mail provider (no CSRF token) is idempotent
    assert client.post("/" + path).status_code == 200
    assert client.get(reverse("campaigns:unsubscribe", args=["forged"])).status_code == 400


def test_basket_mail_is_cancelled_by_a_purchase(
    enroll, antwerp, django_capture_on_commit_callbacks
):
    config("cart_abandoned", offset_days=2)
    buyer = person(enroll)
    idle = person(enroll)
    cart_abandoned(member=buyer, reference="cart-1", lines=[{"sku": "RING-1"}])
    cart_abandoned(member=idle, reference="cart-2")
    purchase_record(
        member=buyer, channel="online", store=None, receipt_id="W1", amount="99.00", currency="EUR"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert messages_dispatch(now=timezone.now()).queued == 0  # not due yet
        report = messages_dispatch(now=timezone.now() + timedelta(hours=3))
    assert (report.queued, report.cancelled) == (1, 1)
    assert sent("cart_abandoned") == [idle.email]


def test_gift_inside_is_in_the_subject_and_given_once(enroll, django_capture_on_commit_callbacks):
    config("birthday", gift_carats=150, subject_en="Happy birthday {{ member.first_name }}")
    m = person(enroll, birth_date=datetime(1990, 6, 15).date(), first_name="Zoé")
    run(NOON, django_capture_on_commit_callbacks)
    run(NOON, django_capture_on_commit_callbacks)
    assert mail.outbox[0].subject == "Happy birthday Zoé — your gift: 150 carats"
    m.refresh_from_db()
    assert m.balance == 150


def test_open_and_click_tracking_and_results(
    client, enroll, antwerp, django_capture_on_commit_callbacks
):
    config("birthday")
    m = person(enroll, birth_date=datetime(1990, 6, 15).date())
    run(NOON, django_capture_on_commit_callbacks)
    log = MessageLog.objects.get(member=m)
    html = mail.outbox[0].alternatives[0][0]
    # The mail's own pixel and link, as the member's mail client requests them. (Not a
    # token computed here: signed tokens carry the second they were made in.)
    pixel = next(p.split('"')[0] for p in html.split('<img src="')[1:] if "/m/o/" in p)
    click = html.split('href="')[1].split('"')[0].replace("&amp;", "&")
    response = client.get("/" + click.split("://", 1)[1].split("/", 1)[1])
    assert response.status_code == 302 and response["Location"] == "https://shop.example/new"
    assert client.get("/" + pixel.split("://", 1)[1].split("/", 1)[1]).status_code == 200
    log.refresh_from_db()
    assert log.opened_at and log.clicked_at
    # no open redirect: an unsigned URL is refused
    assert (
        client.get(
            reverse("campaigns:click", args=[track_token(log)]) + "?u=https://evil.example"
        ).status_code
        == 400
    )
    purchase_record(
        member=m,
        channel="store",
        store=antwerp,
        receipt_id="AFTER",
        amount="10.00",
        currency="EUR",
        occurred_at=log.sent_at + timedelta(minutes=5),
    )
    (row,) = message_results()
    assert (
        row["trigger"],
        row["sent"],
        row["opened"],
        row["clicked"],
        row["purchases"],
        row["open_rate"],
    ) == ("birthday", 1, 1, 1, 1, 100.0)


def test_segment_conditions_combine(enroll, tiers, antwerp):
    big = person(enroll, lifetime_spend_eur=Decimal("2000"), purchase_count=3, country="BE")
    one = person(enroll, purchase_count=1, country="NL", email_opt_in=False)
    person(enroll, purchase_count=0, country="BE")
    seg = Segment.objects.create(name="Belgian spenders")
    SegmentCondition.objects.create(segment=seg, field="country", value="be")
    SegmentCondition.objects.create(segment=seg, field="spend_min", value="1000")
    assert list(segment_members(seg)) == [big]
    # The groups are joined by OR: each condition in its own group is "any of these".
    seg.conditions.filter(field="spend_min").update(group=1)
    assert segment_members(seg).count() == 2
    seg2 = Segment.objects.create(name="First-timers without consent")
    SegmentCondition.objects.create(segment=seg2, field="one_purchase")
    SegmentCondition.objects.create(segment=seg2, field="email_consent", value="yes", negate=True)
    assert list(segment_members(seg2)) == [one]
    purchase_record(
        member=big, channel="store", store=antwerp, receipt_id="S1", amount="5.00", currency="EUR"
    )
    seg3 = Segment.objects.create(name="Antwerp buyers")
    SegmentCondition.objects.create(segment=seg3, field="store", value="antwerp")
    assert list(segment_members(seg3)) == [big]


def test_broadcast_goes_to_consenting_segment_members_at_its_time(
    enroll, django_capture_on_commit_callbacks
):
    seg = Segment.objects.create(name="Everyone in BE")
    SegmentCondition.objects.create(segment=seg, field="country", value="BE")
    a = person(enroll, country="BE")
    person(enroll, country="BE", email_opt_in=False)
    person(enroll, country="NL")
    b = Broadcast.objects.create(
        name="Winter",
        segment=seg,
        subject_en="Winter preview",
        body_en="Hi {{ member.first_name }}",
    )
    broadcast_schedule(broadcast=b, at=NOON + timedelta(hours=2))
    run(NOON, django_capture_on_commit_callbacks)
    assert mail.outbox == []
    run(NOON + timedelta(hours=2), django_capture_on_commit_callbacks)
    assert [m.to for m in mail.outbox] == [[a.email]]
    b.refresh_from_db()
    assert (b.status, b.recipients) == ("sent", 1)
    assert unsubscribe_token(a)


def test_a_worker_that_died_mid_send_is_recovered_and_the_mail_keeps_its_message_id(
    enroll, django_capture_on_commit_callbacks
):
    config("birthday")
    person(enroll, birth_date=datetime(1990, 6, 15).date())
    triggers_select(now=NOON)
    messages_dispatch(now=NOON)  # queued; its send task "was lost with the worker"
    log = MessageLog.objects.get()
    MessageLog.objects.filter(pk=log.pk).update(status="sending", claimed_at=NOON)
    with django_capture_on_commit_callbacks(execute=True):
        messages_dispatch(now=NOON + timedelta(minutes=5))
    assert mail.outbox == []  # still within the timeout: maybe still being sent
    with django_capture_on_commit_callbacks(execute=True):
        messages_dispatch(now=NOON + timedelta(minutes=20))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["Message-ID"] == f"<carat-{log.pk}@carat.example>"
    log.refresh_from_db()
    assert log.status == "sent"
