"""The nightly tier job (`tiers_evaluate_all`): who moves, who is left alone, what is
written. Every test runs through both write paths: PostgreSQL's single statement over
arrays and the portable one that SQLite takes in `make run`."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from loyalty.kernel.models import WebhookEndpoint, WebhookEvent
from members.services import ledger_post
from tests.factories import UserFactory
from tiers import services
from tiers.models import MemberTier, TierChange
from tiers.selectors import member_tier
from tiers.services import tier_invite, tiers_evaluate_all


@pytest.fixture(params=["postgresql", "portable"], autouse=True)
def write_path(request, monkeypatch):
    if request.param == "portable":
        monkeypatch.setattr(services, "_postgres", lambda: False)
    return request.param


def earn(member, carats, *, days_ago=10, kind="purchase"):
    ledger_post(
        member=member,
        carats=carats,
        kind=kind,
        reason="test",
        key=f"{kind}:{member.pk}:{carats}:{days_ago}:{timezone.now().timestamp()}",
        occurred_at=timezone.now() - timedelta(days=days_ago),
    )


def put_on(member, tier, *, hold_days):
    """The member sits on `tier`, the hold ending `hold_days` from now (negative: over)."""
    now = timezone.now()
    MemberTier.objects.filter(member=member).update(
        tier=tier, reached_at=now - timedelta(days=365), hold_until=now + timedelta(days=hold_days)
    )


def row_version(member) -> str:
    """PostgreSQL's row version of the status: it changes with every write of the row."""
    with connection.cursor() as cur:
        cur.execute("SELECT xmin::text FROM tiers_membertier WHERE member_id = %s", [member.pk])
        return cur.fetchone()[0]


def test_a_member_without_status_gets_the_entry_tier_as_of_joining(enroll):
    m = enroll()
    MemberTier.objects.filter(member=m).delete()
    TierChange.objects.filter(member=m).delete()
    report = tiers_evaluate_all()
    assert (report.initialised, report.upgraded, report.downgraded) == (1, 0, 0)
    status = MemberTier.objects.get(member=m)
    assert status.tier.code == "radiant"
    assert status.reached_at == m.joined_at
    assert not TierChange.objects.filter(member=m).exists()
    # the next night finds everybody with a status
    assert tiers_evaluate_all().initialised == 0


def test_a_member_without_status_and_enough_carats_is_initialised_and_upgraded(enroll):
    m = enroll()
    MemberTier.objects.filter(member=m).delete()
    earn(m, 1500, kind="retroactive")
    report = tiers_evaluate_all()
    assert (report.initialised, report.upgraded) == (1, 1)
    assert member_tier(m).code == "emerald"
    change = TierChange.objects.get(member=m, reason="upgrade")
    assert (change.from_tier.code, change.to_tier.code) == ("radiant", "emerald")
    assert change.note == "nightly evaluation: 1500 qualifying carats"


@pytest.mark.parametrize(
    ("carats", "tier"),
    [(499, "radiant"), (500, "marquise"), (1499, "marquise"), (1500, "emerald")],
)
def test_a_member_exactly_at_a_threshold_reaches_it(enroll, carats, tier):
    m = enroll()
    earn(m, carats)  # a ledger entry alone: the sale's own upgrade did not run
    tiers_evaluate_all()
    assert member_tier(m).code == tier
    status = MemberTier.objects.get(member=m)
    if tier != "radiant":
        assert status.hold_until > timezone.now() + timedelta(days=364)


@pytest.mark.postgresql
def test_no_downgrade_inside_the_hold(enroll, tiers):
    m = enroll()
    put_on(m, tiers["emerald"], hold_days=1)
    before = row_version(m)
    report = tiers_evaluate_all()
    assert report.downgraded == 0
    assert member_tier(m).code == "emerald"
    assert row_version(m) == before


def test_after_the_hold_a_member_falls_to_the_tier_the_carats_still_reach(enroll, tiers):
    m = enroll()
    earn(m, 600)
    put_on(m, tiers["emerald"], hold_days=-1)
    report = tiers_evaluate_all()
    assert report.downgraded == 1
    assert member_tier(m).code == "marquise"
    change = TierChange.objects.get(member=m, reason="downgrade")
    assert (change.from_tier.code, change.to_tier.code) == ("emerald", "marquise")
    assert change.note == "nightly evaluation: 600 qualifying carats"


def test_the_hold_ending_exactly_now_allows_the_downgrade(enroll, tiers):
    m = enroll()
    put_on(m, tiers["marquise"], hold_days=0)
    now = MemberTier.objects.get(member=m).hold_until
    assert tiers_evaluate_all(now=now).downgraded == 1
    assert member_tier(m).code == "radiant"


def test_a_member_without_any_qualifying_carats_is_downgraded_to_the_entry_tier(enroll, tiers):
    m = enroll()
    earn(m, 2000, kind="bonus")  # bonus carats never qualify
    earn(m, 900, days_ago=400)  # older than twelve months
    put_on(m, tiers["emerald"], hold_days=-30)
    tiers_evaluate_all()
    assert member_tier(m).code == "radiant"


def test_a_return_counts_at_its_sales_date(enroll, tiers):
    inside, outside = enroll(), enroll()
    # a sale of 700 inside the window, 300 of it returned (the return carries the sale's
    # time): 400 qualifying carats
    earn(inside, 700, days_ago=100)
    earn(inside, -300, days_ago=100, kind="return")
    # a sale 13 months ago returned last week: the return is dated at the sale, so it
    # does not take carats away from this year's 600
    earn(outside, 600, days_ago=30)
    earn(outside, 900, days_ago=400)
    earn(outside, -900, days_ago=400, kind="return")
    for m in (inside, outside):
        put_on(m, tiers["marquise"], hold_days=-1)
    tiers_evaluate_all()
    assert member_tier(inside).code == "radiant"
    assert member_tier(outside).code == "marquise"


def test_negative_qualifying_carats_fall_to_the_entry_tier(enroll, tiers):
    m = enroll()
    earn(m, 1000, kind="bonus")
    earn(m, -200, kind="return")
    put_on(m, tiers["marquise"], hold_days=-1)
    tiers_evaluate_all()
    assert member_tier(m).code == "radiant"


@pytest.mark.postgresql
def test_invite_only_members_are_never_moved(enroll, tiers):
    rich, poor = enroll(), enroll()
    marketing = UserFactory(email="mkt@example.com", is_staff=True)
    for m in (rich, poor):
        tier_invite(member=m, tier=tiers["ambassador"], actor=marketing, note="influencer")
        put_on(m, tiers["ambassador"], hold_days=-400)
    earn(rich, 5000)
    before = [row_version(m) for m in (rich, poor)]
    report = tiers_evaluate_all()
    assert (report.upgraded, report.downgraded) == (0, 0)
    assert [member_tier(m).code for m in (rich, poor)] == ["ambassador", "ambassador"]
    assert [row_version(m) for m in (rich, poor)] == before


@pytest.mark.postgresql
def test_members_whose_tier_does_not_change_are_not_written(enroll, tiers):
    stays = [enroll() for _ in range(3)]
    earn(stays[1], 700)
    earn(stays[2], 1600)
    put_on(stays[1], tiers["marquise"], hold_days=-1)  # hold over, carats still enough
    put_on(stays[2], tiers["emerald"], hold_days=-1)
    moves = enroll()
    earn(moves, 800)
    history = TierChange.objects.count()
    before = [row_version(m) for m in stays]

    report = tiers_evaluate_all()

    assert (report.upgraded, report.downgraded) == (1, 0)
    assert [row_version(m) for m in stays] == before
    assert TierChange.objects.count() == history + 1
    assert TierChange.objects.filter(member=moves, reason="upgrade").count() == 1


@pytest.mark.postgresql
def test_a_second_run_writes_nothing(enroll, tiers):
    up, down = enroll(), enroll()
    earn(up, 1500)
    put_on(down, tiers["marquise"], hold_days=-1)
    first = tiers_evaluate_all()
    assert (first.upgraded, first.downgraded) == (1, 1)
    history = TierChange.objects.count()
    before = [row_version(m) for m in (up, down)]
    again = tiers_evaluate_all()
    assert (again.initialised, again.upgraded, again.downgraded) == (0, 0, 0)
    assert TierChange.objects.count() == history
    assert [row_version(m) for m in (up, down)] == before


def test_a_move_computed_before_a_sales_upgrade_is_not_written(enroll, tiers):
    """The job reads, then writes: a sale that moved the member in between wins."""
    m = enroll()
    earn(m, 600)
    all_tiers = list(tiers[c] for c in ("radiant", "marquise", "emerald"))
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cur:
        moves = services._tier_moves(cur, tiers=all_tiers, now=now)
        assert [(mv.current.code, mv.target.code) for mv in moves] == [("radiant", "marquise")]
        put_on(m, tiers["emerald"], hold_days=365)  # the sale's upgrade, committed meanwhile
        assert services._tier_moves_write(cur, moves, now=now) == []
    assert member_tier(m).code == "emerald"
    assert not TierChange.objects.filter(member=m, reason="upgrade").exists()


def test_tier_changed_events_for_each_member_moved(enroll, tiers):
    WebhookEndpoint.objects.create(
        name="ERP", url="https://erp.example/hook", secret="s" * 32, events=["tier.changed"]
    )
    up, down, same = enroll(), enroll(), enroll()
    earn(up, 600)
    put_on(down, tiers["emerald"], hold_days=-1)
    tiers_evaluate_all()
    events = {e.member_id: e.data for e in WebhookEvent.objects.filter(type="tier.changed")}
    assert set(events) == {up.pk, down.pk}
    assert (events[up.pk]["from"], events[up.pk]["to"], events[up.pk]["reason"]) == (
        "radiant",
        "marquise",
        "upgrade",
    )
    assert (events[down.pk]["from"], events[down.pk]["to"], events[down.pk]["reason"]) == (
        "emerald",
        "radiant",
        "downgrade",
    )
    assert same.pk not in events


@pytest.mark.postgresql
def test_the_planner_settings_do_not_outlive_the_job(enroll):
    """The history import runs the job inside its own transaction: the settings the job's
    read uses must not stay on for the rest of it."""
    enroll()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL parallel_tuple_cost = 0.05")
        tiers_evaluate_all()
        cur.execute(
            "SELECT current_setting('enable_hashjoin'), current_setting('parallel_tuple_cost')"
        )
        assert cur.fetchone() == ("on", "0.05")


def _vacuums_of_statuses() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'tiers_membertier'"
        )
        return cur.fetchone()[0]


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_nightly_run_vacuums_the_statuses_for_the_next_index_only_read(
    enroll, tiers, write_path
):
    """The evaluation reads the statuses index-only, which needs their visibility map set:
    the nightly run (not inside a transaction) vacuums them after its moves."""
    if write_path == "portable":
        pytest.skip("VACUUM and the covering index are PostgreSQL's")
    member = enroll()
    put_on(member, tiers["marquise"], hold_days=-1)  # falls to the entry tier tonight
    before = _vacuums_of_statuses()
    report = tiers_evaluate_all()
    assert report.downgraded == 1
    assert _vacuums_of_statuses() == before + 1
    with connection.cursor() as cur:  # and the page the move wrote is all-visible again
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_visibility")
        cur.execute(
            "SELECT all_visible FROM pg_visibility_map('tiers_membertier', "
            "(SELECT (ctid::text::point)[0]::bigint FROM tiers_membertier WHERE member_id = %s))",
            [member.pk],
        )
        assert cur.fetchone()[0] is True


@pytest.mark.postgresql
def test_inside_a_callers_transaction_the_run_does_not_vacuum(enroll, tiers, write_path):
    enroll()
    with transaction.atomic():
        before = _vacuums_of_statuses() if write_path == "postgresql" else 0
        tiers_evaluate_all()  # VACUUM here would fail: "cannot run inside a transaction block"
        if write_path == "postgresql":
            assert _vacuums_of_statuses() == before
