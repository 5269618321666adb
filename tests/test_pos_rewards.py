"""The scan page: challenges shown, vouchers accepted, rewards redeemed for a member."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Challenge, Reward, Voucher
from campaigns.services import reward_redeem
from members.services import ledger_post
from pos.services import purchase_record
from tests.factories import UserFactory


@pytest.fixture
def till(client, antwerp, program):
    user = UserFactory(email="sam@carat.example")
    antwerp.staff.add(user)
    client.force_login(user)
    return client


def member_url(member, name="pos:member"):
    return reverse(name, args=[member.member_number])


@pytest.fixture
def reward(db):
    return Reward.objects.create(
        name="EUR 25 off",
        kind="amount",
        cost_carats=100,
        value=Decimal("25"),
        starts_at=timezone.now() - timedelta(days=1),
    )


def test_scan_page_shows_the_second_sparkle_notice(till, member, antwerp):
    Challenge.objects.create(
        name="Second sparkle",
        goal="second_purchase",
        enrolment="first_purchase",
        window_days=90,
        reward_multiplier=Decimal("2"),
        starts_at=timezone.now() - timedelta(days=5),
    )
    purchase_record(
        member=member,
        channel="store",
        store=antwerp,
        receipt_id="F1",
        amount="50.00",
        currency="EUR",
        occurred_at=timezone.now() - timedelta(days=1),
    )
    page = till.get(member_url(member)).content.decode()
    assert "2x carats on this sale: Second sparkle" in page


def test_accepting_a_voucher_once(till, member, reward, antwerp):
    ledger_post(member=member, carats=100, kind="bonus", reason="x", key="fund")
    voucher = reward_redeem(member=member, reward=reward).voucher
    page = till.get(member_url(member)).content.decode()
    assert voucher.code in page
    url = member_url(member, "pos:voucher")
    response = till.post(url, {"store": "antwerp", "code": voucher.code.lower()}, follow=True)
    assert f"Voucher {voucher.code} accepted" in response.content.decode()
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_where) == ("used", "antwerp")
    again = till.post(url, {"store": "antwerp", "code": voucher.code})
    assert again.status_code == 409 and "already used" in again.content.decode()


def test_a_voucher_of_another_member_is_refused(till, member, enroll, reward):
    other = enroll()
    ledger_post(member=other, carats=100, kind="bonus", reason="x", key="fund-o")
    voucher = reward_redeem(member=other, reward=reward).voucher
    response = till.post(
        member_url(member, "pos:voucher"), {"store": "antwerp", "code": voucher.code}
    )
    assert response.status_code == 400
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"


def test_assistant_redeems_a_reward_for_the_member(till, member, reward):
    ledger_post(member=member, carats=150, kind="bonus", reason="x", key="fund")
    response = till.post(
        member_url(member, "pos:reward"),
        {"store": "antwerp", "reward": reward.pk, "confirm": "1"},
        follow=True,
    )
    assert "Reward redeemed: EUR 25 off" in response.content.decode()
    member.refresh_from_db()
    assert member.balance == 50
    poor = till.post(
        member_url(member, "pos:reward"), {"store": "antwerp", "reward": reward.pk, "confirm": "1"}
    )
    assert poor.status_code == 409
    member.refresh_from_db()
    assert member.balance == 50


def test_voucher_for_another_store_is_refused(till, member, reward, london):
    ledger_post(member=member, carats=100, kind="bonus", reason="x", key="fund")
    voucher = reward_redeem(member=member, reward=reward).voucher
    response = till.post(
        member_url(member, "pos:voucher"), {"store": "london", "code": voucher.code}
    )
    assert response.status_code == 403
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"
