"""The quicker sale on the POS page: the cursor in Amount after a scan, the carats
explained, a recent sale one tap from its return, a redemption confirmed first."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import EarningRule, Reward
from members.services import ledger_post
from pos.clienteling.sale_help import Part, carats_parts
from tests.factories import UserFactory


@pytest.fixture
def till(client, antwerp, program):
    user = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    antwerp.staff.add(user)
    client.force_login(user)
    return client


def url(member, name="pos:member"):
    return reverse(name, args=[member.member_number])


@pytest.mark.parametrize(
    "reason, parts",
    [
        ("250 for 250.00 EUR", [Part(250, "")]),
        (
            "250 for 250.00 EUR; Second sparkle +250",
            [Part(250, ""), Part(250, "Second sparkle")],
        ),
        (
            "300 for 250.00 EUR (x1.2 Marquise); Double days +300; Trio x2 +600; Trio completed",
            [Part(300, ""), Part(300, "Double days"), Part(600, "Trio")],
        ),
        ("", None),
        ("Imported", None),
    ],
)
def test_carats_parts(reason, parts):
    assert carats_parts(reason) == parts


@pytest.mark.django_db
def test_after_a_scan_the_cursor_is_in_amount(till, member):
    response = till.post(reverse("pos:scan"), {"code": member.member_number})
    page = till.get(response["Location"]).content.decode()
    assert 'name="amount"' in page
    amount = page[page.index('name="amount"') - 200 : page.index('name="amount"') + 300]
    assert "autofocus" in amount
    assert "data-scan-input" in page and "autofocus data-scan-input" not in page


@pytest.mark.django_db
def test_the_sale_result_explains_the_carats(till, member):
    EarningRule.objects.create(
        name="Second sparkle",
        multiplier=Decimal("2"),
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=1),
    )
    response = till.post(
        url(member, "pos:sale"),
        {"store": "antwerp", "amount": "250,00", "currency": "EUR", "receipt_id": "R-1"},
        follow=True,
    )
    page = response.content.decode()
    assert 'id="carat-parts"' in page, page
    text = page[page.index('id="carat-parts"') :].split("</p>")[0]
    assert "base" in text and "Second sparkle" in text


@pytest.mark.django_db
def test_a_recent_sale_is_one_tap_from_its_return(till, member):
    till.post(
        url(member, "pos:sale"),
        {"store": "antwerp", "amount": "100", "currency": "EUR", "receipt_id": "R-77"},
    )
    page = till.get(url(member)).content.decode()
    assert "?return_of=R-77" in page
    page = till.get(url(member), {"return_of": "R-77"}).content.decode()
    assert 'class="return-details" open' in page
    assert 'value="R-77"' in page


@pytest.mark.django_db
def test_a_redemption_is_confirmed_with_the_balance_after_before_carats_move(till, member):
    reward = Reward.objects.create(
        name="EUR 25 off",
        kind="amount",
        cost_carats=100,
        value=Decimal("25"),
        starts_at=timezone.now() - timedelta(days=1),
    )
    ledger_post(member=member, carats=150, kind="bonus", reason="x", key="fund")
    response = till.post(url(member, "pos:reward"), {"store": "antwerp", "reward": reward.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="confirm-redemption"' in page and 'id="balance-after">50<' in page
    member.refresh_from_db()
    assert member.balance == 150 and not member.vouchers.exists()
    once = page.split('name="once" value="')[1].split('"')[0]
    data = {"store": "antwerp", "reward": reward.pk, "confirm": "1", "once": once}
    assert till.post(url(member, "pos:reward"), data).status_code == 302
    assert till.post(url(member, "pos:reward"), data).status_code == 302  # a double tap
    member.refresh_from_db()
    assert member.balance == 50 and member.vouchers.count() == 1
