from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.kernel.errors import DomainError
from members.services import ledger_post
from pos.services import purchase_record
from tests.factories import UserFactory
from tests.helpers import run_in_threads
from tiers.models import MemberTier, TierChange
from tiers.selectors import member_progress, member_tier
from tiers.services import tier_invite, tier_revoke, tiers_evaluate_all

# Every test here runs through both versions of the earn path's statements.
pytestmark = pytest.mark.usefixtures("sale_path")


def sale(member, store, receipt, amount, **kw):
    return purchase_record(
        member=member,
        channel="store",
        store=store,
        receipt_id=receipt,
        amount=amount,
        currency="EUR",
        **kw,
    )


def test_new_member_starts_on_the_entry_tier(member):
    assert member_tier(member).code == "radiant"
    assert TierChange.objects.get(member=member).reason == "joined"


def test_crossing_500_qualifying_carats_makes_a_member_marquise_at_once(member, antwerp):
    first = sale(member, antwerp, "T1", "499.99")
    assert first.tier.code == "radiant" and not first.tier_changed
    second = sale(member, antwerp, "T2", "1.00")
    assert second.tier_changed
    assert second.tier.code == "marquise"
    assert member_tier(member).code == "marquise"
    change = TierChange.objects.filter(member=member, reason="upgrade").get()
    assert (change.from_tier.code, change.to_tier.code) == ("radiant", "marquise")


def test_bonus_carats_do_not_qualify_for_tiers(member, antwerp):
    ledger_post(member=member, carats=5000, kind="bonus", reason="gift", key="g")
    sale(member, antwerp, "T3", "10.00")
    assert member_tier(member).code == "radiant"


def test_sales_older_than_twelve_months_do_not_qualify(member, antwerp):
    sale(member, antwerp, "OLD", "600.00", occurred_at=timezone.now() - timedelta(days=400))
    assert member_tier(member).code == "radiant"


def test_progress_names_the_next_public_tier(member, antwerp):
    sale(member, antwerp, "P1", "270.00")
    progress = member_progress(member)
    assert progress.next_tier.code == "marquise"
    assert progress.carats_to_next == 230
    assert progress.percent == 54


def _set_status(member, *, reached_days_ago):
    reached = timezone.now() - timedelta(days=reached_days_ago)
    MemberTier.objects.filter(member=member).update(
        reached_at=reached, hold_until=reached + timedelta(days=365)
    )


def test_nightly_job_downgrades_only_after_the_twelve_month_hold(enroll, antwerp):
    held = enroll()
    free = enroll()
    for m in (held, free):
        sale(m, antwerp, f"B-{m.pk}", "600.00", occurred_at=timezone.now() - timedelta(days=300))
        assert member_tier(m).code == "marquise"
    _set_status(held, reached_days_ago=200)  # hold runs until day +165
    _set_status(free, reached_days_ago=366)
    # 13 months later nothing qualifies any more: simulate by evaluating in the future
    report = tiers_evaluate_all(now=timezone.now() + timedelta(days=70))
    assert report.downgraded == 1
    assert member_tier(held).code == "marquise"
    assert member_tier(free).code == "radiant"
    assert TierChange.objects.filter(member=free, reason="downgrade").count() == 1
    # a second run finds nothing left to do and writes nothing
    again = tiers_evaluate_all(now=timezone.now() + timedelta(days=70))
    assert (again.upgraded, again.downgraded) == (0, 0)
    assert TierChange.objects.filter(member=free, reason="downgrade").count() == 1


def test_nightly_job_upgrades_and_initialises_missing_statuses(enroll, antwerp):
    m = enroll()
    MemberTier.objects.filter(member=m).delete()
    ledger_post(member=m, carats=1600, kind="retroactive", reason="history", key="h")
    report = tiers_evaluate_all()
    assert report.initialised == 1
    assert report.upgraded == 1
    assert member_tier(m).code == "emerald"


def test_ambassador_is_never_assigned_automatically(enroll, antwerp, tiers):
    big = enroll()
    sale(big, antwerp, "BIG", "99999.00")
    tiers_evaluate_all()
    assert member_tier(big).code == "emerald"
    assert not MemberTier.objects.filter(tier=tiers["ambassador"]).exists()


def test_invited_ambassador_is_never_downgraded_or_upgraded_automatically(member, antwerp, tiers):
    marketing = UserFactory(email="mkt@example.com", is_staff=True)
    tier_invite(member=member, tier=tiers["ambassador"], actor=marketing, note="influencer")
    sale(member, antwerp, "AMB", "5000.00")
    _set_status(member, reached_days_ago=800)
    tiers_evaluate_all(now=timezone.now() + timedelta(days=800))
    assert member_tier(member).code == "ambassador"
    change = TierChange.objects.get(member=member, reason="invited")
    assert change.actor == marketing and change.note == "influencer"
    tier_revoke(member=member, actor=marketing, note="left the program")
    assert member_tier(member).code == "emerald"


def test_only_invite_only_tiers_are_assigned_by_hand(member, tiers):
    with pytest.raises(DomainError):
        tier_invite(member=member, tier=tiers["emerald"], actor=UserFactory(), note="x")


def test_progress_never_offers_the_hidden_tier(member, antwerp, tiers):
    sale(member, antwerp, "E", "2000.00")
    progress = member_progress(member)
    assert progress.tier.code == "emerald"
    assert progress.next_tier is None


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_sales_and_nightly_evaluation_keep_one_consistent_tier(enroll, antwerp):
    member = enroll(email="tier-race@example.com")

    def work(i):
        if i == 0:
            return tiers_evaluate_all()
        return sale(member, antwerp, f"C{i}", "100.00")

    results = run_in_threads(work, 9)
    assert not [r for r in results if isinstance(r, Exception)]
    assert member_tier(member).code == "marquise"  # 800 qualifying carats
    assert TierChange.objects.filter(member=member, reason="upgrade").count() == 1


def test_the_sales_upgrade_is_not_written_over_a_status_that_moved_meanwhile(
    member, antwerp, tiers
):
    """tier_upgrade writes only if the status is still the one the sale read; otherwise
    (the nightly job moved it) it re-evaluates from the ledger."""
    from tiers.services import tier_upgrade

    sale(member, antwerp, "M1", "600.00")  # 600 qualifying: Marquise
    assert member_tier(member).code == "marquise"
    before = TierChange.objects.filter(member=member).count()
    result = tier_upgrade(
        member=member,
        current=tiers["radiant"],  # stale: the sale thought the member was still Radiant
        target=tiers["emerald"],
        qualifying=1600,
        now=timezone.now(),
    )
    assert result.tier.code == "marquise" and not result.changed
    assert member_tier(member).code == "marquise"
    assert TierChange.objects.filter(member=member).count() == before


def test_the_sales_upgrade_records_the_change_with_its_reason(member, antwerp, tiers):
    from tiers.services import tier_upgrade

    now = timezone.now()
    result = tier_upgrade(
        member=member, current=tiers["radiant"], target=tiers["marquise"], qualifying=512, now=now
    )
    assert result.changed and result.tier.code == "marquise"
    status = MemberTier.objects.get(member=member)
    assert status.tier.code == "marquise" and status.reached_at == now
    assert status.hold_until.year == now.year + 1
    change = TierChange.objects.filter(member=member, reason="upgrade").get()
    assert (change.from_tier.code, change.to_tier.code) == ("radiant", "marquise")
    assert change.note == "512 qualifying carats" and change.changed_at == now


def test_an_upgrading_sale_schedules_one_upgrade_mail_per_new_tier(member, antwerp, tiers):
    from campaigns.models import MessageLog, TriggerConfig

    TriggerConfig.objects.create(trigger="tier_upgraded", subject_en="Welcome", body_en="x")
    day = timezone.now().date().isoformat()
    reached = []
    for receipt, amount in (("U1", "600.00"), ("U2", "10.00"), ("U3", "1000.00")):
        result = sale(member, antwerp, receipt, amount)
        reached.append((result.tier.code, result.tier_changed))
    assert reached == [("marquise", True), ("marquise", False), ("emerald", True)]
    mails = MessageLog.objects.filter(member=member, trigger="tier_upgraded").order_by("id")
    assert [(m.occasion, m.status) for m in mails] == [
        (f"tier:marquise:{day}", "scheduled"),
        (f"tier:emerald:{day}", "scheduled"),
    ]


def test_an_upgrading_sale_schedules_no_mail_when_the_trigger_is_off(member, antwerp, tiers):
    from campaigns.models import MessageLog, TriggerConfig

    TriggerConfig.objects.create(
        trigger="tier_upgraded", subject_en="Welcome", body_en="x", enabled=False
    )
    assert sale(member, antwerp, "U1", "600.00").tier.code == "marquise"
    assert not MessageLog.objects.filter(member=member, trigger="tier_upgraded").exists()
