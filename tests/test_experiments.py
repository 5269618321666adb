"""Holdout groups: a stable assignment computed alike in Python and in SQL, recorded once,
and respected by every path that would reach a held-out member (trigger and broadcast
mails, bonus rules on a sale, challenge enrolment)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns import experiments
from campaigns.experiments import HOLDOUT, bucket, bucket_prefix, bucket_sql, held_out_sql
from campaigns.models import (
    Award,
    Broadcast,
    Challenge,
    ChallengeEnrolment,
    EarningRule,
    MessageLog,
    Segment,
    TriggerConfig,
)
from campaigns.services import (
    broadcasts_select,
    message_schedule,
    messages_dispatch,
    triggers_select,
)
from members.models import LedgerEntry, Member
from pos.services import purchase_record

N_IDS = 100_000
IDS_SQL = "WITH RECURSIVE ids(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM ids WHERE id < %s) "


def _sql_buckets(key: str) -> list[tuple[int, int]]:
    """(id, bucket) for the ids 1..100,000, computed by the database in one statement."""
    expr = bucket_sql(connection.vendor, "ids.id")
    with connection.cursor() as cur:
        cur.execute(
            IDS_SQL + f"SELECT ids.id, {expr} FROM ids ORDER BY ids.id",  # noqa: S608
            [N_IDS, bucket_prefix(HOLDOUT, key)],
        )
        return [(int(i), int(b)) for i, b in cur.fetchall()]


def _sql_held_out_ids(key: str, percent: int) -> list[int]:
    cond = held_out_sql(connection.vendor, "ids.id", percent)
    with connection.cursor() as cur:
        cur.execute(
            IDS_SQL + f"SELECT ids.id FROM ids WHERE {cond} ORDER BY ids.id",  # noqa: S608
            [N_IDS, bucket_prefix(HOLDOUT, key)],
        )
        return [int(r[0]) for r in cur.fetchall()]


@pytest.mark.django_db
def test_the_database_and_python_compute_the_same_bucket_for_every_id():
    # On PostgreSQL md5 in SQL; on SQLite the function registered on the connection.
    rows = _sql_buckets("trigger:7")
    assert len(rows) == N_IDS
    mismatches = [i for i, b in rows if b != bucket(HOLDOUT, "trigger:7", i)]
    assert mismatches == []
    # The buckets are spread over the whole range, not stuck in a corner.
    assert min(b for _, b in rows) < 50 and max(b for _, b in rows) > 9950


@pytest.mark.django_db
@pytest.mark.parametrize("percent", [5, 10, 25, 50])
def test_100000_members_split_within_one_point_of_the_share_and_identically_again(percent):
    first = _sql_held_out_ids("broadcast:42", percent)
    share = len(first) / N_IDS
    assert abs(share - percent / 100) < 0.01
    assert _sql_held_out_ids("broadcast:42", percent) == first  # a re-run: the same members
    assert first == [
        i for i in range(1, N_IDS + 1) if experiments.held_out("broadcast:42", i, percent)
    ]


def test_holdout_and_variant_splits_are_independent_and_the_share_is_bounded():
    ids = range(1, 20_001)
    held = {i for i in ids if experiments.held_out("trigger:1", i, 50)}
    in_a = {i for i in ids if experiments.variant_index("trigger:1", i, 2) == 0}
    # Among held-out members, variant A is about half (a shared hash would give 0 or 1).
    assert 0.47 < len(held & in_a) / len(held) < 0.53
    assert not any(experiments.held_out("trigger:1", i, 0) for i in ids)
    # A share above 50 % is never applied, whatever reaches the function.
    assert sum(experiments.held_out("trigger:1", i, 90) for i in ids) / len(ids) < 0.52


@pytest.mark.django_db
def test_the_control_share_is_bounded_in_the_form_and_in_the_database():
    cfg = TriggerConfig(trigger="welcome", subject_en="Hi", body_en="Hello", holdout_percent=51)
    with pytest.raises(ValidationError):
        cfg.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        cfg.save()


# --- mails -------------------------------------------------------------------------------


def _joined_yesterday(enroll, n, now):
    members = [enroll(email_opt_in=True) for _ in range(n)]
    Member.objects.filter(pk__in=[m.pk for m in members]).update(joined_at=now - timedelta(days=1))
    return members


@pytest.mark.django_db
def test_a_trigger_holds_out_its_control_group_recorded_and_never_sent(
    enroll, django_capture_on_commit_callbacks, mailoutbox
):
    now = timezone.now()
    cfg = TriggerConfig.objects.create(
        trigger="welcome",
        subject_en="Welcome",
        body_en="Hello {{ first_name }}",
        marketing=False,
        gift_carats=50,
        holdout_percent=50,
    )
    members = _joined_yesterday(enroll, 24, now)
    key = experiments.experiment_key("trigger", cfg.pk)
    expected = {m.pk for m in members if experiments.held_out(key, m.pk, 50)}
    assert 0 < len(expected) < len(members)
    with django_capture_on_commit_callbacks(execute=True):
        triggers_select(now=now)
        messages_dispatch(now=now)
    logs = MessageLog.objects.filter(trigger="welcome")
    held = set(logs.filter(status="held_out").values_list("member_id", flat=True))
    assert held == expected
    assert (
        set(logs.filter(status="sent").values_list("member_id", flat=True))
        == {m.pk for m in members} - expected
    )
    assert len(mailoutbox) == len(members) - len(expected)
    # No gift to the control group.
    gifted = set(
        LedgerEntry.objects.filter(key__startswith="gift:").values_list("member_id", flat=True)
    )
    assert gifted == {m.pk for m in members} - expected
    # A second run claims nothing new, and the held-out rows stay as they are.
    with django_capture_on_commit_callbacks(execute=True):
        triggers_select(now=now)
        messages_dispatch(now=now)
    assert set(logs.filter(status="held_out").values_list("member_id", flat=True)) == expected
    assert len(mailoutbox) == len(members) - len(expected)


@pytest.mark.django_db
def test_an_event_driven_trigger_respects_the_control_group(enroll):
    cfg = TriggerConfig.objects.create(
        trigger="cart_abandoned", subject_en="Basket", body_en="Your basket", holdout_percent=50
    )
    key = experiments.experiment_key("trigger", cfg.pk)
    members = [enroll() for _ in range(12)]
    for m in members:
        message_schedule(
            member=m, trigger="cart_abandoned", occasion="cart:1", due_at=timezone.now()
        )
    statuses = dict(
        MessageLog.objects.filter(trigger="cart_abandoned").values_list("member_id", "status")
    )
    assert statuses == {
        m.pk: "held_out" if experiments.held_out(key, m.pk, 50) else "scheduled" for m in members
    }


@pytest.mark.django_db
def test_a_broadcast_holds_out_its_control_group_and_counts_only_the_mails_to_send(
    enroll, django_capture_on_commit_callbacks, mailoutbox
):
    members = [enroll(email_opt_in=True) for _ in range(20)]
    everyone = Segment.objects.create(name="Everyone")
    b = Broadcast.objects.create(
        name="Spring",
        segment=everyone,
        subject_en="Spring",
        body_en="New pieces",
        scheduled_at=timezone.now() - timedelta(minutes=1),
        status="scheduled",
        holdout_percent=30,
    )
    key = experiments.experiment_key("broadcast", b.pk)
    expected = {m.pk for m in members if experiments.held_out(key, m.pk, 30)}
    with django_capture_on_commit_callbacks(execute=True):
        broadcasts_select()
        messages_dispatch()
    b.refresh_from_db()
    assert b.recipients == len(members) - len(expected)
    assert len(mailoutbox) == len(members) - len(expected)
    held = MessageLog.objects.filter(broadcast=b, status="held_out")
    assert set(held.values_list("member_id", flat=True)) == expected
    assert b.status == "sent"  # held-out rows do not keep it "sending"


# --- the sale: bonus rules and challenges ------------------------------------------------


def _one_of_each(enroll, key, percent):
    """A held-out member and a treated one (enrolled until the hash gives both)."""
    held = treated = None
    while held is None or treated is None:
        m = enroll()
        if experiments.held_out(key, m.pk, percent):
            held = held or m
        else:
            treated = treated or m
    return held, treated


def _sale(member, store, receipt, amount="100.00"):
    return purchase_record(
        member=member,
        channel="store",
        store=store,
        receipt_id=receipt,
        amount=amount,
        currency="EUR",
    )


@pytest.mark.usefixtures("sale_path")
def test_a_bonus_rule_gives_nothing_to_its_control_group_and_records_it_once(enroll, antwerp):
    rule = EarningRule.objects.create(
        name="Double",
        multiplier=Decimal("2"),
        starts_at=timezone.now() - timedelta(days=1),
        holdout_percent=50,
    )
    held, treated = _one_of_each(enroll, experiments.experiment_key("rule", rule.pk), 50)
    assert _sale(treated, antwerp, "T1").carats_awarded == 200
    assert _sale(held, antwerp, "H1").carats_awarded == 100
    assert _sale(held, antwerp, "H2").carats_awarded == 100
    rows = Award.objects.filter(earning_rule=rule, member=held)
    assert [(r.carats, r.held_out) for r in rows] == [(0, True)]  # once, from the first sale
    assert not Award.objects.filter(earning_rule=rule, member=treated, held_out=True).exists()


@pytest.mark.usefixtures("sale_path")
def test_a_challenge_does_not_enrol_its_control_group(enroll, antwerp):
    ch = Challenge.objects.create(
        name="Second sparkle",
        goal="second_purchase",
        enrolment="first_purchase",
        window_days=90,
        reward_multiplier=Decimal("2"),
        starts_at=timezone.now() - timedelta(days=10),
        holdout_percent=50,
    )
    held, treated = _one_of_each(enroll, experiments.experiment_key("challenge", ch.pk), 50)
    for m, tag in ((held, "H"), (treated, "T")):
        _sale(m, antwerp, f"{tag}1")
    assert _sale(treated, antwerp, "T2").carats_awarded == 200  # the challenge doubled it
    assert _sale(held, antwerp, "H2").carats_awarded == 100  # nothing for the control group
    statuses = dict(ChallengeEnrolment.objects.values_list("member_id", "status"))
    assert statuses == {held.pk: "held_out", treated.pk: "completed"}


@pytest.mark.usefixtures("sale_path")
def test_a_treated_members_sale_costs_no_extra_statement_for_the_control_group(enroll, antwerp):
    """The decision is the hash of ids the sale holds: a rule with a control group costs
    a treated member's sale no statement more than the same rule without one."""
    from django.test.utils import CaptureQueriesContext

    def statements(percent, receipt):
        rule = EarningRule.objects.create(
            name=f"Double {receipt}",
            multiplier=Decimal("2"),
            starts_at=timezone.now() - timedelta(days=1),
            holdout_percent=percent,
        )
        key = experiments.experiment_key("rule", rule.pk)
        m = enroll()
        while experiments.held_out(key, m.pk, percent):
            m = enroll()
        _sale(m, antwerp, f"{receipt}-warm")  # caches warm, not the first purchase
        with CaptureQueriesContext(connection) as ctx:
            assert _sale(m, antwerp, receipt).carats_awarded == 200
        EarningRule.objects.filter(pk=rule.pk).update(active=False)
        return len(ctx.captured_queries)

    assert statements(50, "WITH") == statements(0, "WITHOUT")


@pytest.mark.usefixtures("sale_path")
def test_a_treated_member_capped_to_nothing_still_counts_as_treated(enroll, antwerp):
    rule = EarningRule.objects.create(
        name="Tiny budget",
        bonus_carats=10,
        budget_carats=10,
        starts_at=timezone.now() - timedelta(days=1),
        holdout_percent=50,
    )
    key = experiments.experiment_key("rule", rule.pk)
    first = enroll()
    while experiments.held_out(key, first.pk, 50):
        first = enroll()
    second = enroll()
    while experiments.held_out(key, second.pk, 50):
        second = enroll()
    assert _sale(first, antwerp, "F1").carats_awarded == 110  # the budget's 10 carats
    assert _sale(second, antwerp, "S1").carats_awarded == 100  # nothing left
    assert _sale(second, antwerp, "S2").carats_awarded == 100
    rows = Award.objects.filter(earning_rule=rule, member=second)
    assert [(r.carats, r.held_out) for r in rows] == [(0, False)]  # treated, once
