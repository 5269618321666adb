"""Rewards, vouchers, clubs, birthday surprises and carats expiry."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from campaigns.models import BirthdayGift, Club, MessageLog, Program, Reward, Voucher
from campaigns.services import (
    birthday_gifts_grant,
    carats_expire,
    club_join,
    club_reminders,
    clubs_for_member,
    messages_dispatch,
    reward_redeem,
    rewards_for_member,
    voucher_cancel,
    voucher_use,
)
from loyalty.kernel.errors import Conflict, DomainError, InsufficientCarats, NotFound
from members.models import LedgerEntry, Member
from members.services import ledger_post
from tests.factories import UserFactory
from tests.helpers import assert_balance_matches_ledger, run_in_threads
from tiers.services import tier_invite


def fund(member, carats, key="fund", days_ago=0):
    return ledger_post(
        member=member,
        carats=carats,
        kind="bonus",
        reason="test",
        key=f"{key}:{member.pk}",
        occurred_at=timezone.now() - timedelta(days=days_ago),
    )


def make_reward(**kw):
    kw.setdefault("name", "EUR 25 voucher")
    kw.setdefault("kind", "amount")
    kw.setdefault("cost_carats", 500)
    kw.setdefault("value", Decimal("25"))
    kw.setdefault("starts_at", timezone.now() - timedelta(days=1))
    return Reward.objects.create(**kw)


def test_redeeming_debits_carats_and_issues_a_voucher_used_once(member):
    fund(member, 600)
    reward = make_reward()
    voucher = reward_redeem(member=member, reward=reward).voucher
    member.refresh_from_db()
    assert member.balance == 100
    assert voucher.status == "issued" and voucher.code.startswith("V")
    used = voucher_use(code=voucher.code.lower(), where="antwerp")
    assert used.status == "used"
    with pytest.raises(Conflict):
        voucher_use(code=voucher.code)
    with pytest.raises(NotFound):
        voucher_use(code="VNOPE-NOPE0")
    assert_balance_matches_ledger(member)


def test_not_enough_carats_changes_nothing(member):
    fund(member, 100)
    reward = make_reward(stock=5)
    with pytest.raises(InsufficientCarats):
        reward_redeem(member=member, reward=reward)
    reward.refresh_from_db()
    assert reward.issued_count == 0
    assert not Voucher.objects.exists()


def test_cancelling_an_unused_voucher_refunds_and_restocks(member):
    fund(member, 500)
    reward = make_reward(stock=1)
    voucher = reward_redeem(member=member, reward=reward).voucher
    voucher_cancel(voucher=voucher)
    member.refresh_from_db()
    reward.refresh_from_db()
    assert (member.balance, reward.issued_count) == (500, 0)
    with pytest.raises(Conflict):
        voucher_cancel(voucher=voucher)
    with pytest.raises(Conflict):
        voucher_use(code=voucher.code)
    assert_balance_matches_ledger(member)


def test_expired_voucher_is_refused(member):
    fund(member, 500)
    voucher = reward_redeem(member=member, reward=make_reward()).voucher
    Voucher.objects.filter(pk=voucher.pk).update(valid_until=timezone.now() - timedelta(days=1))
    with pytest.raises(Conflict, match="expired"):
        voucher_use(code=voucher.code)


def test_per_member_limit_and_replayed_request_key(member):
    fund(member, 5000)
    reward = make_reward(per_member_limit=1)
    first = reward_redeem(member=member, reward=reward, request_key="k1")
    again = reward_redeem(member=member, reward=reward, request_key="k1")
    assert first.created and not again.created and again.voucher == first.voucher
    with pytest.raises(DomainError):
        reward_redeem(member=member, reward=reward)
    member.refresh_from_db()
    assert member.balance == 4500


def test_invite_only_rewards_are_visible_to_ambassadors_only(member, enroll, tiers):
    open_reward = make_reward(name="Open")
    vip = make_reward(name="Rent a piece for your event")
    vip.tiers.add(tiers["ambassador"])
    fund(member, 1000)
    assert [r.name for r in rewards_for_member(member)] == ["Open"]
    with pytest.raises(NotFound):
        reward_redeem(member=member, reward=vip)
    tier_invite(member=member, tier=tiers["ambassador"], actor=UserFactory(), note="creator")
    assert {r.name for r in rewards_for_member(member)} == {"Open", "Rent a piece for your event"}
    assert reward_redeem(member=member, reward=vip).created
    assert open_reward.pk


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_fifty_members_racing_for_the_last_unit_never_oversell(enroll):
    reward = make_reward(stock=1)
    members = [enroll(email=f"race{i}@example.com") for i in range(20)]
    for m in members:
        fund(m, 500)
    results = run_in_threads(lambda i: reward_redeem(member=members[i], reward=reward), 20)
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    reward.refresh_from_db()
    assert reward.issued_count == 1
    assert Voucher.objects.count() == 1
    for m in members:
        assert_balance_matches_ledger(m)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_one_member_racing_for_rewards_with_carats_for_three(enroll):
    member = enroll(email="spender@example.com")
    fund(member, 1500)
    reward = make_reward()
    results = run_in_threads(lambda i: reward_redeem(member=member, reward=reward), 12)
    assert sum(1 for r in results if not isinstance(r, Exception)) == 3
    member.refresh_from_db()
    assert member.balance == 0
    assert_balance_matches_ledger(member)


def test_club_purchase_renewal_and_reminder(member):
    club = Club.objects.create(name="High Jewelry Circle", cost_carats=2000, duration_days=365)
    fund(member, 4100)
    assert clubs_for_member(member) == [club]
    first = club_join(member=member, club=club)
    renewal = club_join(member=member, club=club)
    assert renewal.started_at == first.ends_at  # no paid day lost
    member.refresh_from_db()
    assert member.balance == 100
    with pytest.raises(InsufficientCarats):
        club_join(member=member, club=club)
    # the reminder goes only for a membership that ends soon and is not renewed
    assert club_reminders(now=first.ends_at - timedelta(days=10)) == 0
    assert club_reminders(now=renewal.ends_at - timedelta(days=10)) == 1
    assert club_reminders(now=renewal.ends_at - timedelta(days=9)) == 0


def test_birthday_gift_once_a_year_in_the_members_time_zone(
    enroll, django_capture_on_commit_callbacks
):
    Program.objects.update(birthday_carats=150)
    now = timezone.now()
    # Tokyo is ahead: its "today" is the member's birthday, whatever the server's date
    local = now.astimezone(ZoneInfo("Asia/Tokyo")).date()
    tokyo = enroll(email_opt_in=True)
    Member.objects.filter(pk=tokyo.pk).update(
        time_zone="Asia/Tokyo", birth_date=local.replace(year=1990)
    )
    other = enroll()
    Member.objects.filter(pk=other.pk).update(
        birth_date=(local + timedelta(days=40)).replace(year=1985)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert birthday_gifts_grant(now=now) == 1
        assert birthday_gifts_grant(now=now) == 0
        messages_dispatch()
    tokyo.refresh_from_db()
    assert tokyo.balance == 150
    assert BirthdayGift.objects.get(member=tokyo).year == local.year
    assert LedgerEntry.objects.filter(member=tokyo, kind="birthday").count() == 1
    assert "gift is inside" in mail.outbox[-1].subject


def test_expiry_of_earned_carats_spends_oldest_first_and_warns(
    member, django_capture_on_commit_callbacks
):
    Program.objects.update(expiry_policy="earned", expiry_months=12, expiry_warning_days=30)
    fund(member, 300, key="old", days_ago=400)  # expired
    fund(member, 200, key="mid", days_ago=350)  # expires within 30 days
    fund(member, 100, key="new", days_ago=10)
    ledger_post(member=member, carats=-250, kind="redemption", reason="gift", key="spent")
    with django_capture_on_commit_callbacks(execute=True):
        run = carats_expire()
        messages_dispatch()
    # 300 old carats, 250 of them already spent first: 50 expire now
    assert (run.expired_members, run.expired_carats) == (1, 50)
    member.refresh_from_db()
    assert member.balance == 300
    assert run.warned == 1
    warning = MessageLog.objects.get(member=member, trigger="carats_expiring")
    assert warning.occasion.endswith(":200")
    assert "200 of your carats expire" in mail.outbox[-1].subject
    # running again the same day changes nothing and warns nobody twice
    again = carats_expire()
    assert (again.expired_carats, again.warned) == (0, 0)
    assert_balance_matches_ledger(member)


def _expiry_day(member, start, days=40):
    """The first day (in the member's zone) on which the daily job, run at `start` + n
    days, expires carats of `member`; and how many."""
    for n in range(1, days + 1):
        at = start + timedelta(days=n)
        run = carats_expire(now=at)
        if run.expired_carats:
            return at.astimezone(ZoneInfo(member.time_zone)).date().isoformat(), run.expired_carats
    return None


@pytest.mark.parametrize("policy", ["earned", "inactivity"])
def test_the_expiry_warning_names_the_day_and_amount_the_job_expires(
    member, policy, django_capture_on_commit_callbacks
):
    Program.objects.update(expiry_policy=policy, expiry_months=12, expiry_warning_days=30)
    start = timezone.now()
    fund(member, 300, key="old", days_ago=355)  # expires in about ten days
    fund(member, 100, key="new", days_ago=300)  # later (earned policy)
    Member.objects.filter(pk=member.pk).update(last_activity_at=start - timedelta(days=355))
    with django_capture_on_commit_callbacks(execute=True):
        assert carats_expire(now=start).warned == 1
        messages_dispatch()
    warning = MessageLog.objects.get(member=member, trigger="carats_expiring")
    _, date, amount = warning.occasion.split(":")
    body = mail.outbox[-1].body
    # the job's day, as the member's language writes it (English: day-first)
    from datetime import date as _date

    from django.utils import formats

    assert f"expire on {formats.date_format(_date.fromisoformat(date), 'DATE_FORMAT')}" in body
    # earning keeps carats only under the inactivity policy, and only then is it said
    assert ("earn carats to keep them" in body) == (policy == "inactivity")
    expected = (date, int(amount))
    assert expected == _expiry_day(member, start)
    assert int(amount) == (300 if policy == "earned" else 400)


def test_expiry_after_inactivity_takes_the_whole_balance(member):
    Program.objects.update(expiry_policy="inactivity", expiry_months=18)
    fund(member, 120)
    Member.objects.filter(pk=member.pk).update(
        last_activity_at=timezone.now() - timedelta(days=600)
    )
    run = carats_expire()
    assert run.expired_carats == 120
    member.refresh_from_db()
    assert member.balance == 0
    assert_balance_matches_ledger(member)
