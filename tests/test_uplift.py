"""The uplift report: exact sums from the one grouped query, and honest statistics — a
simulated true effect is recovered inside the reported interval, a null effect is said
to be not significant, small groups are said to be too small to tell."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import experiments
from campaigns.models import Challenge, ChallengeEnrolment, MessageLog, TriggerConfig
from loyalty.console.uplift import (
    Arm,
    conversion_interval,
    experiment_arms,
    experiment_uplift,
    revenue_interval,
    t_quantile_975,
    uplift_from_arms,
)
from members.models import Member
from pos.models import Purchase

SEED = 20261208


def _members(n: int) -> list[Member]:
    Member.objects.bulk_create(
        [
            Member(
                member_number=f"S{i:09d}",
                email=f"sim{i}@example.com",
                first_name="Sim",
                last_name=str(i),
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    return list(Member.objects.order_by("pk"))


def _purchase(member_id: int, at, amount: Decimal, n: int) -> Purchase:
    return Purchase(
        member_id=member_id,
        channel="online",
        receipt_id=f"R{n}",
        receipt_key=f"online::R{n}",
        fingerprint="x",
        amount=amount,
        currency="EUR",
        rate_to_eur=Decimal("1"),
        amount_eur=amount,
        occurred_at=at,
    )


def _trigger(code: str, percent: int) -> TriggerConfig:
    return TriggerConfig.objects.create(
        trigger=code, subject_en="Hi", body_en="Hello", holdout_percent=percent
    )


def _exposed(cfg: TriggerConfig, members, at) -> dict[int, bool]:
    """Message log rows as the selection writes them: held out or sent. {member: held}."""
    key = experiments.experiment_key("trigger", cfg.pk)
    arms = {m.pk: experiments.held_out(key, m.pk, cfg.holdout_percent) for m in members}
    MessageLog.objects.bulk_create(
        [
            MessageLog(
                member_id=pk,
                trigger=cfg.trigger,
                occasion="sim",
                due_at=at,
                status="held_out" if held else "sent",
                sent_at=None if held else at,
            )
            for pk, held in arms.items()
        ],
        batch_size=2000,
    )
    return arms


@pytest.mark.django_db
def test_the_query_counts_each_group_exactly_within_the_window():
    now = timezone.now()
    at = now - timedelta(days=100)
    members = _members(40)
    cfg = _trigger("welcome", 50)
    cfg.gift_carats = 25
    cfg.save()
    arms = _exposed(cfg, members, at)
    treated = [pk for pk, held in arms.items() if not held]
    held = [pk for pk, held in arms.items() if held]
    rows, n = [], 0
    for pk in treated[:3] + held[:2]:  # inside the 90 days
        rows.append(_purchase(pk, at + timedelta(days=5), Decimal("100.00"), n := n + 1))
    rows.append(_purchase(treated[0], at + timedelta(days=6), Decimal("50.00"), n := n + 1))
    rows.append(_purchase(treated[3], at - timedelta(days=1), Decimal("999.00"), n := n + 1))
    rows.append(_purchase(held[3], at + timedelta(days=95), Decimal("999.00"), n := n + 1))
    Purchase.objects.bulk_create(rows)
    # A member exposed 10 days ago has not had the 90 days yet: not counted.
    late = Member.objects.create(
        member_number="LATE", email="late@example.com", first_name="L", last_name="L"
    )
    MessageLog.objects.create(
        member=late,
        trigger="welcome",
        occasion="late",
        due_at=now - timedelta(days=10),
        status="sent",
    )
    result = experiment_arms("trigger", cfg, days=90, now=now)
    assert result[False].members == len(treated)
    assert result[True].members == len(held)
    assert result[False].buyers == 3 and result[True].buyers == 2
    assert result[False].revenue == Decimal("350.00")
    assert result[True].revenue == Decimal("200.00")
    assert result[False].revenue_squares == Decimal(150**2 + 100**2 + 100**2)
    assert result[False].carats == 25 * len(treated) and result[True].carats == 0


def _simulate(n: int, effect_points: float, seed: int):
    """n members, one trigger with a true effect on 90-day conversion, and one with none
    (a second trigger, whose independent split sees the same purchases)."""
    now = timezone.now()
    at = now - timedelta(days=120)
    members = _members(n)
    with_effect, without = _trigger("welcome", 50), _trigger("anniversary", 50)
    arms = _exposed(with_effect, members, at)
    _exposed(without, members, at)
    rng = random.Random(seed)
    rows = []
    for i, (pk, held) in enumerate(arms.items()):
        rate = 0.20 + (0 if held else effect_points / 100)
        if rng.random() < rate:
            amount = Decimal(rng.randint(80, 600))
            rows.append(_purchase(pk, at + timedelta(days=rng.randint(1, 89)), amount, i))
    Purchase.objects.bulk_create(rows, batch_size=2000)
    return with_effect, without, now


@pytest.mark.django_db
def test_a_true_effect_is_recovered_inside_the_interval_and_a_null_is_not_significant():
    with_effect, without, now = _simulate(10_000, 5, SEED)
    report = experiment_uplift("trigger", with_effect, days=90, now=now)
    assert report.treated.members + report.held.members == 10_000
    assert report.verdict == "significant"
    assert report.conversion.low < 0.05 < report.conversion.high
    assert report.conversion.low > 0  # and the interval says it is real
    assert report.incremental_buyers > 0 and report.incremental_revenue > 0
    null = experiment_uplift("trigger", without, days=90, now=now)
    assert null.verdict == "not_significant"
    assert null.conversion.low < 0 < null.conversion.high
    assert "Not significant" in null.sentence


def test_the_intervals_cover_the_truth_about_95_percent_of_the_time():
    """Many simulated experiments (fixed seed): the conversion interval covers the true
    +5 points in about 95 % of them, the revenue interval the true difference too."""
    rng = random.Random(SEED)
    covered_conv = covered_rev = 0
    runs = 400
    for _ in range(runs):
        sums = {}
        for held, rate, mean in ((False, 0.25, 200.0), (True, 0.20, 160.0)):
            n = 2000
            buyers = 0
            s = ss = 0.0
            for _ in range(n):
                if rng.random() < rate:
                    buyers += 1
                    v = rng.expovariate(1 / (mean / rate))
                    s += v
                    ss += v * v
            sums[held] = Arm(n, buyers, Decimal(repr(s)), Decimal(repr(ss)), 0)
        conv = conversion_interval(sums[False], sums[True])
        rev = revenue_interval(sums[False], sums[True])
        covered_conv += conv.low < 0.05 < conv.high
        covered_rev += rev.low < 40.0 < rev.high
    assert 0.92 < covered_conv / runs < 0.98
    assert 0.92 < covered_rev / runs < 0.98


def test_small_groups_are_too_small_to_tell():
    treated = Arm(30, 2, Decimal("400"), Decimal("80000"), 300)
    held = Arm(4, 0, Decimal("0"), Decimal("0"), 0)
    report = uplift_from_arms(treated, held, days=90)
    assert report.verdict == "too_small"
    assert report.conversion is None and report.cost_per_incremental_buyer is None
    assert "too small to tell" in report.sentence


def test_cost_per_incremental_buyer_and_the_t_quantile():
    treated = Arm(5000, 1250, Decimal("250000"), Decimal("60000000"), 100_000)
    held = Arm(5000, 1000, Decimal("200000"), Decimal("48000000"), 0)
    report = uplift_from_arms(treated, held, days=90)
    assert report.verdict == "significant"
    assert report.incremental_buyers == pytest.approx(250)
    assert report.incremental_revenue == pytest.approx(50_000)
    assert report.cost_per_incremental_buyer == pytest.approx(400)
    assert t_quantile_975(10) == pytest.approx(2.228, abs=0.002)
    assert t_quantile_975(30) == pytest.approx(2.042, abs=0.001)


@pytest.mark.django_db
def test_a_challenge_experiment_reads_its_enrolments(enroll):
    ch = Challenge.objects.create(
        name="Sparkle", goal="second_purchase", enrolment="first_purchase", holdout_percent=50
    )
    at = timezone.now() - timedelta(days=100)
    a, b = enroll(), enroll()
    ChallengeEnrolment.objects.create(challenge=ch, member=a, enrolled_at=at, carats_given=40)
    ChallengeEnrolment.objects.create(challenge=ch, member=b, enrolled_at=at, status="held_out")
    arms = experiment_arms("challenge", ch, days=90)
    assert (arms[False].members, arms[False].carats) == (1, 40)
    assert arms[True].members == 1


@pytest.mark.django_db
def test_the_report_page_shows_both_groups_and_refuses_bad_days(client, marketing):
    cfg = _trigger("welcome", 10)
    url = reverse("admin:uplift", args=["trigger", cfg.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b"uplift-arms" in page.content and b"too small to tell" in page.content
    assert client.get(url, {"days": "0"}).status_code == 400
    assert client.get(url, {"days": "abc"}).status_code == 400
    assert client.get(reverse("admin:uplift", args=["nothing", 1])).status_code == 404
    assert client.get(reverse("admin:uplift", args=["trigger", 999999])).status_code == 404
