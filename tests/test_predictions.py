"""The nightly predictions: features from the sales, the fit and scores written back,
and their use (segments, the win-back on P(active), the console).

The models' mathematics against the literature: tests/test_predictions_cdnow.py."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.urls import reverse

from campaigns.models import MessageLog, Segment, SegmentCondition, TriggerConfig
from campaigns.segments import segment_members
from campaigns.services import triggers_select
from loyalty.kernel.errors import DomainError
from members.models import Member, MemberPrediction, PredictionRun
from members.predictions import model
from members.predictions.features import member_features
from members.predictions.services import predictions_run
from pos.models import Purchase, Return
from tests.factories import MemberFactory

BRU = ZoneInfo("Europe/Brussels")
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=BRU)
F = SegmentCondition.Field


def buyer(days_ago: list[float], amount="100.00", **fields) -> Member:
    """A member with a sale `days_ago` days before NOW for each entry (noon, Brussels)."""
    m = MemberFactory(**fields)
    sales = [
        Purchase(
            member=m,
            channel="online",
            receipt_id=f"R{m.pk}-{i}",
            receipt_key=f"online::R{m.pk}-{i}",
            fingerprint="x",
            amount=Decimal(amount),
            currency="EUR",
            rate_to_eur=Decimal(1),
            amount_eur=Decimal(amount),
            occurred_at=NOW - timedelta(days=d),
        )
        for i, d in enumerate(days_ago)
    ]
    Purchase.objects.bulk_create(sales)
    if sales:
        Member.objects.filter(pk=m.pk).update(
            purchase_count=len(sales),
            first_purchase_at=min(s.occurred_at for s in sales),
            last_purchase_at=max(s.occurred_at for s in sales),
        )
        m.refresh_from_db()
    return m


def simulated_buyers(n: int, seed: int = 1) -> list[Member]:
    """Buyers drawn from a BG/NBD world (rate per day ~ Gamma(0.8, 60), drop-out after a
    purchase ~ Beta(0.7, 3)), first purchase 100-700 days ago."""
    rng = np.random.default_rng(seed)
    members = []
    for _ in range(n):
        age = int(rng.integers(100, 700))
        rate = rng.gamma(0.8, 1 / 60)
        p_drop = rng.beta(0.7, 3)
        days, t = [age], 0.0
        while True:
            t += rng.exponential(1 / rate) if rate > 0 else age + 1
            if t >= age:
                break
            days.append(age - int(t))
            if rng.random() < p_drop:
                break
        members.append(buyer(days, amount=str(rng.choice([79, 129, 249, 399]))))
    return members


def test_known_parameters_are_recovered_from_a_simulated_population():
    """5,000 customers drawn from known parameters: the fit finds them again."""
    rng = np.random.default_rng(7)
    r, alpha, a, b = 0.8, 60.0, 0.7, 3.0
    n = 5000
    T = rng.uniform(100, 700, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        lam, p = rng.gamma(r, 1 / alpha), rng.beta(a, b)
        t = 0.0
        while True:
            t += rng.exponential(1 / lam)
            if t >= T[i]:
                break
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < p:
                break
    fit = model.bgnbd_fit(x, t_x, T)
    assert fit.converged
    got = fit.params
    assert got.r == pytest.approx(r, rel=0.15)
    assert got.alpha == pytest.approx(alpha, rel=0.2)
    assert got.a == pytest.approx(a, rel=0.25)
    assert got.b == pytest.approx(b, rel=0.35)


@pytest.mark.django_db
def test_features_count_order_days_net_of_returns():
    m = buyer([300, 300, 200, 100, 50], amount="100.00")
    sales = list(Purchase.objects.filter(member=m).order_by("occurred_at", "id"))
    # Day 300 twice: one visit worth 200. Day 100 fully returned: no order. Day 50 half.
    Return.objects.create(
        purchase=sales[3],
        amount=Decimal(100),
        amount_eur=Decimal(100),
        return_key="r1",
        carats_reversed=0,
        occurred_at=NOW,
    )
    Return.objects.create(
        purchase=sales[4],
        amount=Decimal(50),
        amount_eur=Decimal(50),
        return_key="r2",
        carats_reversed=0,
        occurred_at=NOW,
    )
    MemberFactory()  # never bought: no features
    f = member_features(now=NOW)
    assert f.member_id.tolist() == [m.pk]
    assert (f.x[0], f.t_x[0], f.T[0]) == (2, 250, 300)  # days 300, 200, 50
    assert f.m[0] == pytest.approx((100 + 50) / 2)  # the repeat days' net values


@pytest.mark.django_db
def test_the_nightly_run_scores_every_buyer_and_replaces_the_last_scores():
    members = simulated_buyers(60)
    never = MemberFactory()
    run = predictions_run(now=NOW)
    assert run.members_scored == 60 and run.sample_size == 60
    assert MemberPrediction.objects.count() == 60
    assert not MemberPrediction.objects.filter(member=never).exists()
    assert sum(run.p_alive_histogram) == 60
    params = model.BgNbdParams(**run.params["bgnbd"])
    # Each row is the model's score of that member's history.
    f = member_features(now=NOW)
    i = int(np.flatnonzero(f.x > 0)[0])
    row = MemberPrediction.objects.get(member_id=int(f.member_id[i]))
    assert row.p_alive == pytest.approx(
        float(model.p_alive(params, f.x[i : i + 1], f.t_x[i : i + 1], f.T[i : i + 1])[0])
    )
    assert row.expected_90 < row.expected_365
    assert row.clv_12m_eur == pytest.approx(
        Decimal(f"{row.expected_365 * float(row.order_value_eur):.2f}"), abs=Decimal("0.05")
    )
    # The next night: the same members, newer scores; an erased member's row goes.
    Member.objects.filter(pk=members[0].pk).update(erased_at=NOW)
    later = NOW + timedelta(days=1)
    predictions_run(now=later)
    assert MemberPrediction.objects.count() == 59
    assert set(MemberPrediction.objects.values_list("computed_at", flat=True)) == {later}
    assert PredictionRun.objects.count() == 2


@pytest.mark.django_db
def test_too_few_buyers_leave_the_scores_as_they_were():
    buyer([10, 5])
    assert predictions_run(now=NOW) is None
    assert not PredictionRun.objects.exists()


@pytest.mark.django_db
def test_a_run_90_days_old_gets_its_realised_orders():
    simulated_buyers(40)
    first = predictions_run(now=NOW - timedelta(days=100))
    newcomer = buyer([20])  # not scored by the first run: not counted
    predictions_run(now=NOW)
    first.refresh_from_db()
    before = member_features(now=first.as_of)
    after = member_features(now=first.as_of + timedelta(days=90))
    scored = set(before.member_id.tolist())
    expected_actual = int(
        sum(x + 1 for mid, x in zip(after.member_id, after.x, strict=True) if mid in scored)
        - (before.x + 1).sum()
    )
    assert first.realised_90 == expected_actual > 0
    assert newcomer.pk not in scored


def _scored(p_alive: float, clv: str, **fields) -> Member:
    m = buyer([30], **fields)
    MemberPrediction.objects.create(
        member=m,
        orders=1,
        frequency=0,
        recency_days=0,
        age_days=30,
        p_alive=p_alive,
        expected_90=0.1,
        expected_365=0.4,
        order_value_eur=Decimal(100),
        clv_12m_eur=Decimal(clv),
        computed_at=NOW,
    )
    return m


def _segment(field, value, negate=False) -> Segment:
    s = Segment.objects.create(name=f"{field} {value} {negate}")
    SegmentCondition.objects.create(segment=s, field=field, value=value, negate=negate)
    return s


@pytest.mark.django_db
def test_segments_on_p_alive_and_clv():
    drifting = _scored(0.15, "40.00")
    loyal = _scored(0.9, "1200.00")
    unscored = MemberFactory()
    members = lambda s: set(segment_members(s, now=NOW))  # noqa: E731
    assert members(_segment(F.P_ALIVE_MAX, "30")) == {drifting}
    assert members(_segment(F.P_ALIVE_MIN, "30 %")) == {loyal}
    assert members(_segment(F.CLV_MIN, "1000")) == {loyal}
    # "Not" stays among the scored members: an unscored member is no "not drifting".
    assert members(_segment(F.P_ALIVE_MAX, "30", negate=True)) == {loyal}
    assert unscored not in members(_segment(F.CLV_MIN, "0", negate=True))
    for field, bad in [
        (F.P_ALIVE_MAX, "abc"),
        (F.P_ALIVE_MAX, "120"),
        (F.P_ALIVE_MIN, "-1"),
        (F.P_ALIVE_MIN, "NaN"),
        (F.CLV_MIN, "Infinity"),
        (F.CLV_MIN, "-5"),
        (F.CLV_MIN, "1e12"),
    ]:
        with pytest.raises(DomainError):
            segment_members(_segment(field, bad), now=NOW).count()


@pytest.mark.django_db
def test_win_back_when_p_alive_falls_below_the_threshold_once_per_lapse(program):
    TriggerConfig.objects.create(
        trigger="win_back",
        p_alive_below=40,
        offset_days=180,
        subject_en="We miss you",
        body_en="Hello {{ member.first_name }}",
    )
    drifting = _scored(0.2, "10.00", email_opt_in=True)
    likely = _scored(0.7, "500.00", email_opt_in=True)  # still likely to buy
    bought_since = _scored(0.2, "10.00", email_opt_in=True)
    Member.objects.filter(pk=bought_since.pk).update(last_purchase_at=NOW + timedelta(hours=1))
    # A one-time buyer (BG/NBD counts them active): the fixed 180 days still bring them.
    once = buyer([180], email_opt_in=True)
    triggers_select(now=NOW + timedelta(hours=2))
    rows = {r.member_id: r.occasion for r in MessageLog.objects.filter(trigger="win_back")}
    assert set(rows) == {drifting.pk, once.pk}
    last_day = drifting.last_purchase_at.astimezone(BRU).date()
    assert rows[drifting.pk] == f"winback:{last_day.isoformat()}"
    assert rows[once.pk] == f"winback:{(NOW - timedelta(days=180)).date().isoformat()}"
    # The next nights: the same lapse claims nothing new.
    for days in (1, 2):
        triggers_select(now=NOW + timedelta(days=days, hours=2))
    assert MessageLog.objects.filter(trigger="win_back").count() == 2
    # 180 days after their last purchase: the likely buyer's fixed-days mail comes; the
    # drifting member's lapse was claimed already.
    triggers_select(now=NOW + timedelta(days=150, hours=2))
    by_member = list(
        MessageLog.objects.filter(trigger="win_back").values_list("member_id", flat=True)
    )
    assert sorted(by_member) == sorted([drifting.pk, once.pk, likely.pk])


@pytest.mark.django_db
def test_console_shows_candidates_member_prediction_and_dashboard(client, program):
    from loyalty.kernel.roles import MARKETING, role_grant, roles_apply
    from tests.factories import UserFactory

    roles_apply()
    user = UserFactory(is_staff=True)
    role_grant(user=user, role=MARKETING)
    client.force_login(user)
    simulated_buyers(30)
    predictions_run(now=NOW)
    top = MemberPrediction.objects.order_by("-clv_12m_eur").first().member
    page = client.get(reverse("admin:members_ambassadorcandidate_changelist"))
    assert page.status_code == 200
    assert top.member_number in page.content.decode()
    member_page = client.get(reverse("admin:members_member_change", args=[top.pk]))
    assert 'data-testid="member-prediction"' in member_page.content.decode()
    dashboard = client.get(reverse("admin:index")).content.decode()
    assert 'id="section-predictions"' in dashboard and "Buyers scored" in dashboard
    # The member's export holds the predictions; an erasure removes them.
    from loyalty.console.privacy import member_erase_all, member_export

    assert member_export(top)["predictions"][0]["clv_12m_eur"]
    member_erase_all(member=top, source="console", actor=user, reason="asked")
    assert not MemberPrediction.objects.filter(member=top).exists()


def test_expected_purchases_stay_finite_when_the_fit_cannot_tell_drop_out():
    """A small program's fit can end with very large a and b (drop-out not identified):
    Euler's form underflows there, and a member with three orders must not be told
    "0.00 expected orders" (it was NaN, shown as nothing)."""
    from members.predictions.model import BgNbdParams, expected_purchases, expected_purchases_new

    params = BgNbdParams(r=1.0049, alpha=73.58, a=93660.1, b=836452.0)
    x, t_x, T = [1, 2, 10], [200.0, 280.0, 290.0], [300.0, 300.0, 300.0]
    got = expected_purchases(params, 90, x, t_x, T)
    assert np.all(np.isfinite(got))
    # Never more than an active member's own rate allows: (r + x) / (alpha + T) per day.
    ceiling = (params.r + np.array(x)) / (params.alpha + np.array(T)) * 90
    assert np.all(got > 0.3 * ceiling) and np.all(got <= ceiling)
    new = expected_purchases_new(params, np.array([30.0, 90.0]))
    assert np.all(np.isfinite(new)) and 0 < new[0] < new[1] <= params.r / params.alpha * 90
