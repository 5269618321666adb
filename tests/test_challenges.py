"""Challenges: 'Second sparkle' and friends."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Badge, Challenge, ChallengeEnrolment
from campaigns.services import challenges_expire, challenges_for_member
from members.models import LedgerEntry
from pos.services import purchase_record, return_record
from tests.helpers import assert_balance_matches_ledger, run_in_threads

# Every test here runs through both versions of the earn path's statements.
pytestmark = pytest.mark.usefixtures("sale_path")

NOW = timezone.now


def sparkle(**kw):
    defaults = dict(
        name="Second sparkle",
        goal="second_purchase",
        enrolment="first_purchase",
        window_days=90,
        reward_multiplier=Decimal("2"),
        badge="Second sparkle",
        starts_at=NOW() - timedelta(days=400),
    )
    return Challenge.objects.create(**{**defaults, **kw})


def sale(member, store, receipt, amount="100.00", **kw):
    return purchase_record(
        member=member,
        channel=kw.pop("channel", "store"),
        store=store,
        receipt_id=receipt,
        amount=amount,
        currency="EUR",
        **kw,
    )


def test_first_purchase_enrols_and_a_second_inside_the_window_doubles_once(member, antwerp):
    sparkle()
    first = sale(member, antwerp, "S1", occurred_at=NOW() - timedelta(days=30))
    assert first.carats_awarded == 100
    enrolment = ChallengeEnrolment.objects.get(member=member)
    assert enrolment.status == "active"
    assert challenges_for_member(member)[0].hint == "2x carats on this sale: Second sparkle"
    second = sale(member, antwerp, "S2", "150.00")
    assert second.carats_awarded == 300
    assert "Second sparkle x2 +150" in second.purchase.earning_reason
    # the replayed receipt gives nothing more
    assert sale(member, antwerp, "S2", "150.00").carats_awarded == 300
    third = sale(member, antwerp, "S3", "10.00")
    assert third.carats_awarded == 10
    enrolment.refresh_from_db()
    assert enrolment.status == "completed" and enrolment.carats_given == 150
    assert Badge.objects.get(member=member).name == "Second sparkle"
    member.refresh_from_db()
    assert member.balance == 410
    assert_balance_matches_ledger(member)


def test_no_completion_after_the_window(member, antwerp):
    sparkle()
    sale(member, antwerp, "S1", occurred_at=NOW() - timedelta(days=100))
    assert challenges_expire() == 1
    assert sale(member, antwerp, "S2").carats_awarded == 100
    assert ChallengeEnrolment.objects.get().status == "expired"
    assert not Badge.objects.exists()


def test_a_return_of_the_qualifying_purchase_undoes_completion_and_carats(member, antwerp):
    sparkle(reward_carats=50)
    sale(member, antwerp, "S1", occurred_at=NOW() - timedelta(days=10))
    sale(member, antwerp, "S2", "100.00")  # 200 carats + 50 bonus
    member.refresh_from_db()
    assert member.balance == 100 + 200 + 50
    return_record(channel="store", store=antwerp, receipt_id="S2", return_id="R1", amount="100.00")
    enrolment = ChallengeEnrolment.objects.get()
    assert enrolment.status == "active" and enrolment.carats_given == 0
    assert not Badge.objects.exists()
    member.refresh_from_db()
    assert member.balance == 100
    assert_balance_matches_ledger(member)
    # still inside the window: the member can complete it again
    assert sale(member, antwerp, "S3", "20.00").carats_awarded == 40


def test_a_partial_return_keeps_the_completion(member, antwerp):
    sparkle()
    sale(member, antwerp, "S1", occurred_at=NOW() - timedelta(days=10))
    sale(member, antwerp, "S2", "100.00")
    ret = return_record(
        channel="store", store=antwerp, receipt_id="S2", return_id="R1", amount="50.00"
    )
    assert ret.carats_reversed == 100  # half of the 200 earned, multiplier included
    assert ChallengeEnrolment.objects.get().status == "completed"


def test_spend_goal_and_other_channel_goal(member, antwerp):
    Challenge.objects.create(
        name="Spend 500",
        goal="spend",
        goal_amount=Decimal("500"),
        enrolment="first_purchase",
        window_days=365,
        reward_carats=100,
        starts_at=NOW() - timedelta(days=1),
    )
    Challenge.objects.create(
        name="Visit us online",
        goal="other_channel",
        enrolment="first_purchase",
        window_days=365,
        reward_carats=30,
        starts_at=NOW() - timedelta(days=1),
    )
    sale(member, antwerp, "S1", "100.00")
    sale(member, antwerp, "S2", "300.00")
    assert ChallengeEnrolment.objects.get(challenge__name="Spend 500").progress == Decimal("300.00")
    sale(member, None, "W1", "250.00", channel="online")
    states = dict(ChallengeEnrolment.objects.values_list("challenge__name", "status"))
    assert states == {"Spend 500": "completed", "Visit us online": "completed"}
    member.refresh_from_db()
    assert member.balance == 650 + 100 + 30


def test_budget_caps_the_challenge_rewards(enroll, antwerp):
    ch = sparkle(budget_carats=150)
    results = []
    for i in range(3):
        m = enroll()
        sale(m, antwerp, f"A{i}", occurred_at=NOW() - timedelta(days=5))
        results.append(sale(m, antwerp, f"B{i}", "100.00").carats_awarded)
    assert results == [200, 150, 100]
    ch.refresh_from_db()
    assert ch.carats_given == 150


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_the_qualifying_sale_apply_the_multiplier_once(enroll, antwerp):
    sparkle()
    member = enroll(email="sparkle@example.com")
    sale(member, antwerp, "S1", occurred_at=NOW() - timedelta(days=3))
    results = run_in_threads(lambda i: sale(member, antwerp, "S2", "100.00"), 10)
    assert not [r for r in results if isinstance(r, Exception)]
    assert {r.carats_awarded for r in results} == {200}
    member.refresh_from_db()
    assert member.balance == 300
    assert LedgerEntry.objects.filter(member=member, kind="purchase").count() == 2
    assert_balance_matches_ledger(member)


def test_the_thank_you_mail_mentions_the_challenge(
    member, antwerp, django_capture_on_commit_callbacks
):
    from django.core import mail

    from campaigns.models import TriggerConfig
    from campaigns.services import messages_dispatch, triggers_select
    from members.models import Member

    sparkle(description="Come back within 90 days: double carats.")
    Member.objects.filter(pk=member.pk).update(email_opt_in=True)
    TriggerConfig.objects.create(
        trigger="thank_you",
        offset_days=1,
        subject_en="Thank you",
        body_en="Thanks! {{ challenges }}",
    )
    sale(member, antwerp, "S1", occurred_at=NOW() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        triggers_select()
        messages_dispatch()
    body = mail.outbox[-1].body
    assert "Second sparkle: Come back within 90 days: double carats. (88 days left)" in body
