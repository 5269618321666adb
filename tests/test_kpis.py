"""The console's KPIs on a small hand-made book whose right answers are worked out by hand
below. Time travel: the services read `django.utils.timezone.now`, so the book is written
at the moments it happened (ledger bookings included)."""

import csv
import io
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Club, MessageLog, Reward, TriggerConfig
from campaigns.services import (
    club_join,
    messages_dispatch,
    reward_redeem,
    triggers_select,
    voucher_cancel,
    voucher_issue_gift,
)
from loyalty.console import kpis
from loyalty.console.kpis import Filters, Period, Rate
from members.models import LedgerEntry, Member, User
from members.services import ledger_adjust, ledger_post, member_update
from pos.services import purchase_record, return_record
from tests.factories import make_rate
from tiers.services import tier_invite, tiers_evaluate_all

BRU = ZoneInfo("Europe/Brussels")
JANUARY = Period(date(2025, 1, 1), date(2025, 1, 31))
DECEMBER = Period(date(2024, 12, 1), date(2024, 12, 31))
LATER = datetime(2026, 11, 1, 12, 0, tzinfo=BRU)  # every conversion window is over


def at(y, m, d, hh=12, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=BRU)


@contextmanager
def travel(moment):
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def sale(member, when, amount, *, store=None, channel="store", currency="EUR", receipt):
    with travel(when):
        return purchase_record(
            member=member,
            channel=channel,
            store=store,
            receipt_id=receipt,
            amount=amount,
            currency=currency,
            occurred_at=when,
        ).purchase


def give_back(when, *, store, receipt, amount, return_id):
    with travel(when):
        return return_record(
            channel="store", store=store, receipt_id=receipt, return_id=return_id, amount=amount
        ).ret


@pytest.fixture
def book(tiers, antwerp, london, enroll):
    """The January 2025 book (times in Brussels; 1 carat per EUR, multiplier 1; GBP 1.17).

    member  joined      sales (receipt: when, where, amount)                returns
    hal     2023-06-01  H1 2023-12-01 Antwerp 600 EUR (-> Marquise)        -
                        nightly job 2025-01-15: downgraded to Radiant
    eve     2024-06-01  E1 2024-07-01 web 1000 EUR (-> Marquise)          -
                        E2 2025-01-25 Antwerp 80 EUR; 50 carats expire 01-31
    ann     2024-11-15  A1 2024-12-10 Antwerp 200, A2 2025-01-05 Antwerp 100; -10 adjusted 01-20
    gus     2024-12-01  invited to Ambassador 2024-12-05;
                        G1 2025-01-01 00:30 Antwerp 500 (23:30 UTC on 31 December!)
    bob     2025-01-03  B1 2025-01-04 10:00 Antwerp 300, B2 same day 16:00 web 250
                        (-> Marquise), B3 2025-03-10 London 100 GBP = 117 EUR;
                        redeems a 200-carat reward 01-28
    fay     2025-01-08  referred by ann; F1 2025-01-09 web 60, F2 2025-06-30 web 40
    cat     2025-01-10  C1 2025-01-12 London 200 GBP = 234 EUR  R1 01-14: all 200 GBP
                        C2 2025-01-20 Antwerp 400 EUR          R2 02-05: 100 EUR
    dan     2025-01-15  never buys
    """
    make_rate("GBP", "1.170000", days_ago=2000)
    people = {}
    for name, joined, extra in [
        ("hal", at(2023, 6, 1), {}),
        ("eve", at(2024, 6, 1), {}),
        ("ann", at(2024, 11, 15), {}),
        ("gus", at(2024, 12, 1), {}),
    ]:
        with travel(joined):
            people[name] = enroll(email=f"{name}@example.com", joined_at=joined, **extra)
    p = people
    sale(p["hal"], at(2023, 12, 1), "600.00", store=antwerp, receipt="H1")
    sale(p["eve"], at(2024, 7, 1), "1000.00", channel="online", receipt="E1")
    with travel(at(2024, 12, 5)):
        tier_invite(
            member=p["gus"],
            tier=tiers["ambassador"],
            actor=User.objects.create_user(email="boss@carat.example"),
            note="Hosts giveaways",
        )
    sale(p["ann"], at(2024, 12, 10), "200.00", store=antwerp, receipt="A1")
    sale(p["gus"], at(2025, 1, 1, 0, 30), "500.00", store=antwerp, receipt="G1")
    with travel(at(2025, 1, 3, 9)):
        p["bob"] = enroll(email="bob@example.com", joined_at=at(2025, 1, 3, 9))
    sale(p["bob"], at(2025, 1, 4, 10), "300.00", store=antwerp, receipt="B1")
    sale(p["bob"], at(2025, 1, 4, 16), "250.00", channel="online", receipt="B2")
    sale(p["ann"], at(2025, 1, 5), "100.00", store=antwerp, receipt="A2")
    with travel(at(2025, 1, 8)):
        p["fay"] = enroll(
            email="fay@example.com", joined_at=at(2025, 1, 8), referral_code=p["ann"].referral_code
        )
    sale(p["fay"], at(2025, 1, 9), "60.00", channel="online", receipt="F1")
    with travel(at(2025, 1, 10)):
        p["cat"] = enroll(email="cat@example.com", joined_at=at(2025, 1, 10))
    sale(p["cat"], at(2025, 1, 12), "200.00", store=london, currency="GBP", receipt="C1")
    give_back(at(2025, 1, 14), store=london, receipt="C1", amount="200.00", return_id="R1")
    with travel(at(2025, 1, 15, 2, 15)):
        tiers_evaluate_all(now=at(2025, 1, 15, 2, 15))
    with travel(at(2025, 1, 15)):
        p["dan"] = enroll(email="dan@example.com", joined_at=at(2025, 1, 15))
    sale(p["cat"], at(2025, 1, 20), "400.00", store=antwerp, receipt="C2")
    with travel(at(2025, 1, 20, 15)):
        ledger_adjust(
            member=p["ann"],
            carats=-10,
            reason="Goodwill reversed",
            actor=User.objects.get(email="boss@carat.example"),
            key="adjust:ann",
        )
    sale(p["eve"], at(2025, 1, 25), "80.00", store=antwerp, receipt="E2")
    necklace = Reward.objects.create(
        name="Silver necklace", kind="product", cost_carats=200, starts_at=at(2024, 1, 1)
    )
    with travel(at(2025, 1, 28)):
        reward_redeem(member=p["bob"], reward=necklace)
    with travel(at(2025, 1, 31, 23)):
        ledger_post(
            member=p["eve"],
            carats=-50,
            kind=LedgerEntry.Kind.EXPIRY,
            reason="50 carats expired",
            key="expiry:eve",
        )
    give_back(at(2025, 2, 5), store=antwerp, receipt="C2", amount="100.00", return_id="R2")
    sale(p["bob"], at(2025, 3, 10), "100.00", store=london, currency="GBP", receipt="B3")
    sale(p["fay"], at(2025, 6, 30), "40.00", channel="online", receipt="F2")
    for m in p.values():
        m.refresh_from_db()
    return p


# --- members -------------------------------------------------------------------------


def test_member_counts_new_active_by_tier_and_ambassadors(book):
    m = kpis.member_kpis(JANUARY)
    # joined before 1 Feb: hal, eve, ann, gus, bob, fay, cat, dan
    assert m.total == 8
    # joined in January: bob (3rd), fay (8th), cat (10th), dan (15th)
    assert m.new == 4
    # an order between 1 Feb 2024 and 1 Feb 2025: ann, bob, cat (C2), eve, fay, gus.
    # Not hal (last sale Dec 2023), not dan (never bought).
    assert m.active == 6
    # current tiers: Radiant ann, cat, dan, fay, hal (downgraded); Marquise bob, eve;
    # Ambassador gus
    assert {t.code: t.members for t in m.by_tier} == {
        "radiant": 5,
        "marquise": 2,
        "emerald": 0,
        "ambassador": 1,
    }
    assert m.ambassadors == 1


def test_member_counts_of_the_previous_period(book):
    m = kpis.member_kpis(JANUARY.previous())
    assert JANUARY.previous() == DECEMBER
    assert m.total == 4  # hal, eve, ann, gus had joined by 1 January
    assert m.new == 1  # gus
    # orders in 2024: eve (E1), ann (A1). G1 is 1 January 00:30 in Brussels.
    assert m.active == 2


def test_member_counts_with_a_tier_filter(book, tiers):
    m = kpis.member_kpis(JANUARY, Filters(tier_id=tiers["marquise"].pk))
    assert (m.total, m.new, m.active) == (2, 1, 2)  # bob (new) and eve, both bought
    assert [(t.code, t.members) for t in m.by_tier] == [("marquise", 2)]
    assert m.ambassadors == 0


# --- second purchase -----------------------------------------------------------------


def test_second_purchase_conversion_with_same_day_and_returned_sales(book):
    c = kpis.conversion_kpis(JANUARY, now=LATER)
    # first order ever in January: gus G1 (1 Jan, local), bob B1, fay F1, and cat C2
    # (her C1 was fully returned, so it is not an order). ann and eve bought before.
    assert c.first_buyers == 4
    # bob's B2 is on the day of B1: the same visit. His second order is B3 on 10 March:
    # 4 Jan -> 10 Mar = 27 + 28 + 10 = 65 days. fay: 9 Jan -> 30 Jun = 22 + 28 + 31 + 30
    # + 31 + 30 = 172 days. gus and cat have no second order.
    assert c.converted == 2
    assert c.within == {90: Rate(1, 4), 180: Rate(2, 4), 365: Rate(2, 4)}
    assert c.median_days == Decimal("118.5")  # (65 + 172) / 2
    assert c.referred_first_buyers == 1  # fay, referred by ann


def test_conversion_windows_count_only_first_buyers_old_enough(book):
    c = kpis.conversion_kpis(JANUARY, now=at(2025, 4, 15))
    # 90 days before 15 April noon is 15 January noon: gus, bob, fay are old enough, cat
    # (20 Jan) is not; of those three only bob came back within 90 days.
    assert c.within[90] == Rate(1, 3)
    assert c.within[180] == Rate(0, 0)
    assert c.within[180].value is None  # shown as "not yet", never as 0 %


def test_conversion_of_december_and_by_store_and_channel(book, antwerp):
    c = kpis.conversion_kpis(DECEMBER, now=LATER)
    # ann: A1 10 Dec, A2 5 Jan = 21 + 5 = 26 days later
    assert (c.first_buyers, c.converted, c.median_days) == (1, 1, Decimal("26.0"))
    assert c.within[90] == Rate(1, 1)

    shop = kpis.conversion_kpis(JANUARY, Filters(store_id=antwerp.pk), now=LATER)
    # first orders placed in Antwerp: gus G1, bob B1, cat C2 (fay's F1 was online);
    # bob's second order may be anywhere (London)
    assert (shop.first_buyers, shop.converted) == (3, 1)
    assert shop.median_days == Decimal("65.0")

    web = kpis.conversion_kpis(JANUARY, Filters(channel="online"), now=LATER)
    # bob ordered online in January (B2), but his first order was in the store
    assert (web.first_buyers, web.converted, web.median_days) == (1, 1, Decimal("172.0"))


def test_conversion_without_buyers_is_empty_not_zero(tiers):
    c = kpis.conversion_kpis(JANUARY, now=LATER)
    assert (c.first_buyers, c.converted, c.median_days) == (0, 0, None)
    assert all(r.value is None for r in c.within.values())


# --- sales ---------------------------------------------------------------------------


def test_revenue_orders_and_average_order_value_net_of_returns(book):
    s = kpis.sales_kpis(JANUARY)
    # sales in January: G1 500 + B1 300 + B2 250 + A2 100 + F1 60 + C1 234 (200 GBP x
    # 1.17) + C2 400 + E2 80 = 1924.00 EUR
    assert s.gross_eur == Decimal("1924.00")
    # their returns, at the sale's rate and on the sale's date: R1 234.00 + R2 100.00
    # (R2 was booked on 5 February, but C2 is a January sale)
    assert s.returns_eur == Decimal("334.00")
    assert s.revenue_eur == Decimal("1590.00")
    # orders: every sale but the fully returned C1 = 7, by 6 members
    assert (s.orders, s.buyers) == (7, 6)
    assert s.aov_eur == Decimal("227.14")  # 1590 / 7 = 227.142...


def test_revenue_by_store_channel_and_tier(book):
    s = kpis.sales_kpis(JANUARY)
    # Antwerp: G1 500 + B1 300 + A2 100 + C2 400 - R2 100 + E2 80 = 1280
    # London: C1 234 - R1 234 = 0; web shop (no store): B2 250 + F1 60 = 310
    assert [(x.key, x.revenue_eur) for x in s.by_store] == [
        ("antwerp", Decimal("1280.00")),
        ("", Decimal("310.00")),
        ("london", Decimal("0.00")),
    ]
    assert [(x.key, x.revenue_eur) for x in s.by_channel] == [
        ("store", Decimal("1280.00")),
        ("online", Decimal("310.00")),
    ]
    # by current tier: Radiant ann 100 + cat 300 + fay 60 = 460; Marquise bob 550 + eve 80
    # = 630; Ambassador gus 500
    assert [(x.key, x.revenue_eur) for x in s.by_tier] == [
        ("radiant", Decimal("460.00")),
        ("marquise", Decimal("630.00")),
        ("ambassador", Decimal("500.00")),
    ]
    assert sum(x.revenue_eur for x in s.by_tier) == s.revenue_eur


def test_frequency_and_repeat_rate_over_the_twelve_months(book):
    s = kpis.sales_kpis(JANUARY)
    # orders from 1 Feb 2024 to 31 Jan 2025: E1, A1, G1, B1, B2, A2, F1, C2, E2 = 9 (C1
    # fully returned), by ann, bob, cat, eve, fay, gus = 6 members
    assert (s.orders_12m, s.active_12m) == (9, 6)
    assert s.frequency == Decimal("1.50")  # 9 / 6
    # ordered on two different days: ann (10 Dec, 5 Jan) and eve (1 Jul, 25 Jan); bob's
    # two orders were on one day
    assert s.repeat == Rate(2, 6)


def test_sales_of_the_previous_period_respect_the_local_midnight(book):
    s = kpis.sales_kpis(DECEMBER)
    # only A1: G1 happened at 23:30 UTC on 31 December, which is January in Brussels
    assert (s.gross_eur, s.revenue_eur, s.orders, s.aov_eur) == (
        Decimal("200.00"),
        Decimal("200.00"),
        1,
        Decimal("200.00"),
    )
    # 2024: E1, A1 by eve and ann, on one day each
    assert (s.orders_12m, s.active_12m, s.frequency, s.repeat) == (
        2,
        2,
        Decimal("1.00"),
        Rate(0, 2),
    )


def test_sales_filtered_by_store_channel_and_tier(book, antwerp, tiers):
    shop = kpis.sales_kpis(JANUARY, Filters(store_id=antwerp.pk))
    # Antwerp: 1280 net over G1, B1, A2, C2, E2
    assert (shop.revenue_eur, shop.orders, shop.aov_eur) == (
        Decimal("1280.00"),
        5,
        Decimal("256.00"),
    )
    web = kpis.sales_kpis(JANUARY, Filters(channel="online"))
    assert (web.revenue_eur, web.orders, web.buyers) == (Decimal("310.00"), 2, 2)
    marquise = kpis.sales_kpis(JANUARY, Filters(tier_id=tiers["marquise"].pk))
    # bob B1 300 + B2 250, eve E2 80
    assert (marquise.revenue_eur, marquise.orders, marquise.buyers, marquise.aov_eur) == (
        Decimal("630.00"),
        3,
        2,
        Decimal("210.00"),
    )


def test_revenue_trend_per_day_week_and_month(book):
    trend = dict(kpis.revenue_trend(JANUARY))
    assert len(trend) == 31
    assert trend[date(2025, 1, 1)] == Decimal("500.00")  # G1, local day
    assert trend[date(2025, 1, 4)] == Decimal("550.00")  # B1 + B2
    assert trend[date(2025, 1, 12)] == Decimal("0.00")  # C1 - R1
    assert trend[date(2025, 1, 20)] == Decimal("300.00")  # C2 - R2
    assert sum(trend.values()) == Decimal("1590.00")
    weeks = dict(kpis.revenue_trend(Period(date(2024, 12, 30), date(2025, 2, 28))))
    # 61 days are still days; 30 Dec - 30 Mar (91 days) go by Monday-weeks
    assert len(weeks) == 61
    weeks = dict(kpis.revenue_trend(Period(date(2024, 12, 30), date(2025, 3, 30))))
    assert len(weeks) == 13
    # week of Mon 30 Dec - Sun 5 Jan: G1 500 + B1 300 + B2 250 + A2 100 (Sunday) = 1150
    assert weeks[date(2024, 12, 30)] == Decimal("1150.00")
    # week of 6 Jan: F1 60 + C1 234 - R1 234 = 60; of 20 Jan: C2 400 - R2 100 + E2 80 = 380
    assert (weeks[date(2025, 1, 6)], weeks[date(2025, 1, 20)]) == (
        Decimal("60.00"),
        Decimal("380.00"),
    )
    assert weeks[date(2025, 3, 10)] == Decimal("117.00")  # B3
    assert sum(weeks.values()) == Decimal("1590.00") + Decimal("117.00")
    months = dict(kpis.revenue_trend(Period(date(2024, 12, 1), date(2025, 6, 30))))
    # December A1 200; January 1590; February nothing; March B3 117.00; June F2 40
    assert months == {
        date(2024, 12, 1): Decimal("200.00"),
        date(2025, 1, 1): Decimal("1590.00"),
        date(2025, 2, 1): Decimal("0.00"),
        date(2025, 3, 1): Decimal("117.00"),
        date(2025, 4, 1): Decimal("0.00"),
        date(2025, 5, 1): Decimal("0.00"),
        date(2025, 6, 1): Decimal("40.00"),
    }


# --- carats --------------------------------------------------------------------------


def test_carats_issued_redeemed_expired_and_liability(book, settings):
    c = kpis.carat_kpis(JANUARY)
    # booked in January: sales G1 500 + B1 300 + B2 250 + A2 100 + F1 60 + C1 234 + C2 400
    # + E2 80 = 1924
    assert c.issued == 1924
    assert c.returned == 234  # R1 (R2's 100 were booked in February)
    assert c.redeemed == 200  # bob's necklace
    assert c.expired == 50
    assert c.adjusted_out == 10
    assert c.redemption_rate == Rate(200, 1924)
    # on the balances on 1 February: H1 600 + E1 1000 + A1 200 (before January)
    # + 1924 - 234 - 200 - 50 - 10 (January) = 3230
    assert c.outstanding == 3230
    assert c.liability_eur == Decimal("161.50")  # 3230 x 0.05 EUR (the default)
    settings.CARAT_EUR_PER_CARAT = "0.10"
    assert kpis.carat_kpis(JANUARY).liability_eur == Decimal("323.00")
    # today: 3230 - 100 (R2) + 117 (B3) + 40 (F2) = 3287 = the members' balances
    assert (
        kpis.outstanding_carats(timezone.now())
        == 3287
        == sum(Member.objects.values_list("balance", flat=True))
    )


def test_carats_of_december_and_for_one_tier(book, tiers):
    d = kpis.carat_kpis(DECEMBER)
    assert (d.issued, d.redeemed, d.outstanding) == (200, 0, 1800)  # A1; 600 + 1000 + 200
    assert d.redemption_rate == Rate(0, 200)
    m = kpis.carat_kpis(JANUARY, Filters(tier_id=tiers["marquise"].pk))
    # bob 300 + 250, eve 80; bob redeemed 200, eve lost 50
    assert (m.issued, m.redeemed, m.expired) == (630, 200, 50)
    # bob 550 - 200 = 350, eve 1000 + 80 - 50 = 1030
    assert m.outstanding == 1380


def test_top_rewards_count_redemptions_not_gifts_or_cancelled(enroll, antwerp):
    ring = Reward.objects.create(name="Ring cleaning", kind="experience", cost_carats=50)
    pouch = Reward.objects.create(name="Velvet pouch", kind="product", cost_carats=20)
    a, b, c = enroll(), enroll(), enroll()
    for i, m in enumerate((a, b, c)):
        purchase_record(
            member=m,
            channel="store",
            store=antwerp,
            receipt_id=f"T{i}",
            amount="200.00",
            currency="EUR",
        )
    reward_redeem(member=a, reward=ring)
    reward_redeem(member=a, reward=ring)
    reward_redeem(member=b, reward=pouch)
    cancelled = reward_redeem(member=c, reward=ring).voucher
    voucher_cancel(voucher=cancelled)
    voucher_issue_gift(member=c, reward=pouch, source="birthday")
    today = timezone.localdate()
    c_kpis = kpis.carat_kpis(Period(today - timedelta(days=6), today))
    assert [(r.name, r.vouchers, r.carats) for r in c_kpis.top_rewards] == [
        ("Ring cleaning", 2, 100),
        ("Velvet pouch", 1, 20),
    ]
    # spent 50 + 50 + 20 + 50, and the cancelled voucher's 50 came back
    assert c_kpis.redeemed == 120
    assert c_kpis.issued == 600


# --- tiers, clubs, referrals ---------------------------------------------------------


def test_tier_moves_and_referrals(book):
    e = kpis.engagement_kpis(JANUARY, now=LATER)
    # bob reached Marquise at B2; hal fell back to Radiant in the nightly job
    assert (e.upgrades, e.downgrades, e.invited, e.revoked) == (1, 1, 0, 0)
    assert [(m.reason, m.from_tier, m.to_tier, m.members) for m in e.moves] == [
        ("downgrade", "Marquise", "Radiant", 1),
        ("upgrade", "Radiant", "Marquise", 1),
    ]
    assert (e.referred_signups, e.referred_first_buyers) == (1, 1)  # fay
    d = kpis.engagement_kpis(DECEMBER, now=LATER)
    assert (d.upgrades, d.downgrades, d.invited) == (0, 0, 1)  # gus
    assert (d.referred_signups, d.referred_first_buyers) == (0, 0)


def test_clubs_joined_renewed_and_active(enroll, antwerp):
    pearls = Club.objects.create(name="Pearl club", cost_carats=100, duration_days=365)
    watches = Club.objects.create(name="Watch club", cost_carats=150, duration_days=30)
    a, b = enroll(), enroll()
    for i, m in enumerate((a, b)):
        purchase_record(
            member=m,
            channel="store",
            store=antwerp,
            receipt_id=f"K{i}",
            amount="500.00",
            currency="EUR",
        )
    club_join(member=a, club=pearls)
    club_join(member=a, club=pearls)  # a renewal: starts when the first year ends
    club_join(member=b, club=watches)
    today = timezone.localdate()
    e = kpis.engagement_kpis(Period(today - timedelta(days=6), today))
    assert [(c.name, c.joined, c.carats, c.active) for c in e.clubs] == [
        ("Pearl club", 2, 200, 1),  # one member in it, however many years paid
        ("Watch club", 1, 150, 1),
    ]


# --- e-mails -------------------------------------------------------------------------


def test_email_results_per_trigger(enroll, antwerp, django_capture_on_commit_callbacks):
    """Sent on 15 June 2026 at 12:00: two birthday mails and one expiry warning."""
    noon = at(2026, 6, 15)
    TriggerConfig.objects.create(
        trigger="birthday", subject_en="Happy birthday", body_en="Hello {{ member.first_name }}"
    )
    born = date(1990, 6, 15)
    buyer = enroll(email="buyer@example.com", birth_date=born, email_opt_in=True)
    late = enroll(email="late@example.com", birth_date=born, email_opt_in=True)
    returned = enroll(email="returned@example.com", birth_date=born, email_opt_in=True)
    gone = enroll(email="gone@example.com", birth_date=born, email_opt_in=True)
    with travel(noon), django_capture_on_commit_callbacks(execute=True):
        triggers_select(now=noon)
        # unsubscribes between selection and sending: the dispatcher skips the mail
        member_update(member=gone, source="test", email_opt_in=False)
        messages_dispatch(now=noon)
    assert MessageLog.objects.filter(status="sent").count() == 3
    MessageLog.objects.filter(member=buyer).update(opened_at=noon + timedelta(hours=1))
    sale(buyer, noon + timedelta(days=3), "90.00", store=antwerp, receipt="M1")  # within 14 d
    sale(late, noon + timedelta(days=15), "90.00", store=antwerp, receipt="M2")  # too late
    sale(returned, noon + timedelta(days=2), "90.00", store=antwerp, receipt="M3")
    give_back(noon + timedelta(days=4), store=antwerp, receipt="M3", amount="90.00", return_id="X")
    e = kpis.email_kpis(Period(date(2026, 6, 1), date(2026, 6, 30)))
    assert (e.tracks_opens, e.tracks_clicks) == (True, True)
    (row,) = e.rows
    # 3 sent; 1 opened; bought within 14 days: only `buyer` (`late` came on day 15 and
    # `returned` brought everything back); `gone`'s mail was skipped
    assert (row.trigger, row.sent, row.opened, row.clicked, row.bought, row.not_sent) == (
        "birthday",
        3,
        Rate(1, 3),
        Rate(0, 3),
        Rate(1, 3),
        1,
    )
    assert kpis.email_kpis(Period(date(2026, 5, 1), date(2026, 5, 31))).rows == []


# --- cohorts -------------------------------------------------------------------------


def test_monthly_cohort_retention(book):
    table = kpis.cohort_retention(JANUARY)
    rows = {r.month: r for r in table.rows}
    assert list(rows) == [date(2024, m, 1) for m in range(2, 13)] + [date(2025, 1, 1)]
    # June 2024: eve, buying in July (k=1) and January (k=7)
    june = rows[date(2024, 6, 1)]
    assert (june.members, june.buyers[:8]) == (1, [0, 1, 0, 0, 0, 0, 0, 1])
    assert june.buyers[8] is None  # February 2025 has not been reached
    # November: ann buys in December (k=1) and January (k=2)
    assert rows[date(2024, 11, 1)].buyers[:3] == [0, 1, 1]
    # December: gus, whose G1 on 1 January 00:30 is month k=1
    assert rows[date(2024, 12, 1)].buyers[:2] == [0, 1]
    # January: bob, cat, dan, fay joined; bob, cat (C2) and fay bought in January
    jan = rows[date(2025, 1, 1)]
    assert (jan.members, jan.buyers[0], jan.buyers[1]) == (4, 3, None)
    assert jan.rate(0) == Decimal("75.0")
    assert rows[date(2024, 3, 1)].members == 0


def test_whole_dashboard_compares_with_the_previous_period(book, tiers):
    d = kpis.dashboard(JANUARY, now=LATER)
    assert d.current.period == JANUARY and d.previous.period == DECEMBER
    assert (d.current.sales.revenue_eur, d.previous.sales.revenue_eur) == (
        Decimal("1590.00"),
        Decimal("200.00"),
    )
    assert (d.current.members.new, d.previous.members.new) == (4, 1)
    assert d.cohorts.rows[-1].month == date(2025, 1, 1)


# --- the console page ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_dashboard_cache():
    """The console keeps a computed dashboard for a few minutes; tests start without."""
    cache.clear()
    yield
    cache.clear()


JANUARY_QUERY = {"period": "custom", "start": "2025-01-01", "end": "2025-01-31"}


def test_console_start_page_is_the_dashboard(client, marketing, book):
    page = client.get(reverse("admin:index"), JANUARY_QUERY).content.decode()
    assert "Diamond Club dashboard" in page
    assert "01 Jan 2025 to 31 Jan 2025" in page and "01 Dec 2024 to 31 Dec 2024" in page
    assert page.count("<canvas") == 6 and 'id="kpi-data"' in page
    assert "€1,590" in page  # member revenue, net
    assert "/static/vendor/chartjs/chart.umd.min.js" in page
    assert "<script>" not in page  # no inline scripts (the data is JSON, not code)


def test_tables_export_as_csv(client, marketing, book):
    response = client.get(reverse("admin:index"), {**JANUARY_QUERY, "export": "revenue_by_store"})
    assert response["Content-Type"].startswith("text/csv")
    assert (
        'filename="carat-revenue_by_store-2025-01-01-2025-01-31.csv"'
        in (response["Content-Disposition"])
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())  # the BOM: spreadsheets read UTF-8
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        ["Store", "Revenue (EUR)", "Previous period"],
        ["Carat Antwerp", "1280.00", "200.00"],
        ["Web shop / no store", "310.00", "0.00"],
        ["Carat London", "0.00", "0.00"],
    ]
    summary = client.get(reverse("admin:index"), {**JANUARY_QUERY, "export": "summary"})
    lines = list(csv.reader(io.StringIO(summary.content.decode("utf-8-sig"))))
    assert ["Member revenue", "1590.00", "200.00"] in lines
    assert ["New members", "4", "1"] in lines
    assert client.get(reverse("admin:index"), {"export": "nope"}).status_code == 404


def test_filters_in_the_query_string(client, marketing, book):
    response = client.get(
        reverse("admin:index"), {**JANUARY_QUERY, "store": "antwerp", "export": "summary"}
    )
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert ["Member revenue", "1280.00", "200.00"] in lines
    response = client.get(
        reverse("admin:index"), {**JANUARY_QUERY, "tier": "marquise", "export": "summary"}
    )
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert ["Member revenue", "630.00", "0.00"] in lines


def test_bad_dates_fall_back_to_the_last_30_days_with_a_message(client, marketing, tiers):
    page = client.get(
        reverse("admin:index"), {"period": "custom", "start": "2025-02-01", "end": "2025-01-01"}
    ).content.decode()
    assert "The end date is before the start date." in page
    today = timezone.localdate()
    assert f"{today - timedelta(days=29):%d %b %Y} to {today:%d %b %Y}" in page


def test_staff_without_sales_access_keep_the_app_list(client, db):
    clerk = User.objects.create_user(
        email="clerk@example.com", password="x-12345678", is_staff=True
    )
    clerk.user_permissions.set(Permission.objects.filter(codename="view_member"))
    client.force_login(clerk)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Diamond Club dashboard" not in page
    assert "Members" in page
    client.logout()
    assert client.get(reverse("admin:index")).status_code == 302  # to the login


def test_warming_the_cache_serves_the_start_page_without_computing(
    client, marketing, book, django_assert_max_num_queries
):
    from loyalty.console import dashboard

    assert set(dashboard.warm_cache(("30d", "90d"))) == {"30d", "90d"}
    # session, user, permissions, stores and tiers for the form: no KPI query
    with django_assert_max_num_queries(8):
        assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize(
    ("start", "end"),
    [("0001-01-01", "0001-01-10"), ("9999-12-20", "9999-12-31"), ("1999-12-01", "2000-01-10")],
)
def test_far_dates_fall_back_to_the_last_30_days_with_a_message(client, marketing, start, end):
    response = client.get(reverse("admin:index"), {"period": "custom", "start": start, "end": end})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose dates from" in page
    today = timezone.localdate()
    assert f"{today - timedelta(days=29):%d %b %Y} to {today:%d %b %Y}" in page
