"""The member change page is the single customer view: everything about one customer on
one page, with a number of queries that does not grow with their history."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Club, MessageLog, Reward
from campaigns.services import club_join, message_claim, reward_redeem
from pos.services import purchase_record, return_record
from tests.factories import make_rate


@pytest.fixture
def shop(antwerp, london):
    make_rate("GBP", "1.170000")
    ring = Reward.objects.create(name="Ring cleaning", kind="experience", cost_carats=10)
    club = Club.objects.create(name="Pearl club", cost_carats=20)
    return {"antwerp": antwerp, "london": london, "ring": ring, "club": club}


def add_history(member, shop, enroll, n: int, tag: str):
    """n of everything: sales in both channels and currencies, a return, a voucher, a
    club year, a message and a referred friend."""
    for i in range(n):
        purchase_record(
            member=member,
            channel="store",
            store=shop["london"],
            receipt_id=f"{tag}-L{i}",
            amount="100.00",
            currency="GBP",
        )
        purchase_record(
            member=member,
            channel="online",
            store=None,
            receipt_id=f"{tag}-W{i}",
            amount="50.00",
            currency="EUR",
        )
        return_record(
            channel="store",
            store=shop["london"],
            receipt_id=f"{tag}-L{i}",
            return_id=f"{tag}-R{i}",
            amount="40.00",
        )
        reward_redeem(member=member, reward=shop["ring"])
        club_join(member=member, club=shop["club"])
        message_claim(member=member, trigger="birthday", occasion=f"{tag}:{i}")
        enroll(
            email=f"friend-{tag}-{i}@example.com",
            first_name="Friend",
            referral_code=member.referral_code,
        )


def open_page(client, member):
    return client.get(reverse("admin:members_member_change", args=[member.pk]))


def test_member_page_shows_every_part_of_the_customer(client, marketing, member, shop, enroll):
    add_history(member, shop, enroll, 1, "a")
    MessageLog.objects.filter(member=member).update(
        status="sent", subject="Happy birthday Ada", sent_at=timezone.now()
    )
    page = open_page(client, member).content.decode()
    for expected in (
        "Radiant",  # current tier
        "a-L0",  # a London sale in GBP
        "a-W0",  # a web-shop sale
        "a-R0",  # its return
        "46.80 EUR",  # 40 GBP x 1.17 back
        "Ring cleaning",  # the voucher
        "Pearl club",  # the club year
        "Happy birthday Ada",  # the message sent
        "friend-a-0@example.com",  # the referred friend
        "Referrals (friends this member brought in)",
    ):
        assert expected in page, expected


def test_member_page_queries_do_not_grow_with_history(
    client, marketing, member, shop, enroll, django_assert_max_num_queries
):
    add_history(member, shop, enroll, 1, "a")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert open_page(client, member).status_code == 200
    add_history(member, shop, enroll, 4, "b")
    with CaptureQueriesContext(connection) as big:
        assert open_page(client, member).status_code == 200
    assert len(big) == len(small), [q["sql"] for q in big.captured_queries]
    with django_assert_max_num_queries(len(small)):
        open_page(client, member)


def test_referred_friend_shows_who_referred_them(client, marketing, member, enroll):
    friend = enroll(email="friend@example.com", referral_code=member.referral_code)
    page = open_page(client, friend).content.decode()
    assert reverse("admin:members_member_change", args=[member.pk]) in page
    assert "Ada Lovelace" in page


def test_history_sections_show_the_latest_rows_only(client, marketing, member, antwerp):
    for i in range(105):
        purchase_record(
            member=member,
            channel="store",
            store=antwerp,
            receipt_id=f"P{i:03d}",
            amount="1.00",
            currency="EUR",
            occurred_at=timezone.now() - timedelta(hours=200 - i),
        )
    page = open_page(client, member).content.decode()
    assert "P104" in page and "P005" in page
    assert "P004" not in page  # the 100 latest are shown; the rest is in Purchases
