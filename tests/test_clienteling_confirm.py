"""A redemption confirmed by the client on their phone when their account page is open,
else by the associate at the till; carats move only on a confirmation, once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Reward
from campaigns.services import member_enroll
from members.models import User
from members.services import ledger_post
from pos.clienteling.models import RedemptionRequest
from tests.factories import UserFactory


@pytest.fixture
def setup(program, antwerp):
    cache.clear()
    sam = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    antwerp.staff.add(sam)
    user = User.objects.create_user(email="ada@example.com", password="pw-12345678")
    ada = member_enroll(email="ada@example.com", first_name="Ada", user=user)
    ledger_post(member=ada, carats=300, kind="bonus", reason="x", key="fund")
    reward = Reward.objects.create(
        name="EUR 25 off",
        kind="amount",
        cost_carats=100,
        value=Decimal("25"),
        starts_at=timezone.now() - timedelta(days=1),
    )
    till, phone = Client(), Client()
    till.force_login(sam)
    phone.force_login(user)
    yield {"ada": ada, "reward": reward, "till": till, "phone": phone}
    cache.clear()


def ask(setup, **extra):
    return setup["till"].post(
        reverse("pos:reward", args=[setup["ada"].member_number]),
        {"store": "antwerp", "reward": setup["reward"].pk, **extra},
    )


@pytest.mark.django_db
def test_with_the_account_page_open_the_client_confirms_on_their_phone(setup):
    ada = setup["ada"]
    assert setup["phone"].get(reverse("account_confirm")).json() == {"pending": None}
    page = ask(setup)
    assert page.status_code == 200 and 'id="phone-wait"' in page.content.decode()
    req = RedemptionRequest.objects.get(member=ada)
    ada.refresh_from_db()
    assert ada.balance == 300  # nothing spent yet
    pending = setup["phone"].get(reverse("account_confirm")).json()["pending"]
    assert pending["id"] == req.pk and "balance after: 200" in pending["text"]
    status_url = reverse("pos:redemption_status", args=[ada.member_number, req.pk])
    assert setup["till"].get(status_url).json()["status"] == "pending"
    decide = reverse("account_confirm_decide", args=[req.pk])
    assert setup["phone"].post(decide, {"answer": "yes"}).status_code == 302
    assert setup["phone"].post(decide, {"answer": "yes"}).status_code == 302  # twice: once
    ada.refresh_from_db()
    assert ada.balance == 200 and ada.vouchers.count() == 1
    status = setup["till"].get(status_url).json()
    assert status["status"] == "confirmed" and ada.vouchers.get().code in status["url"]


@pytest.mark.django_db
def test_a_declined_request_spends_nothing(setup):
    setup["phone"].get(reverse("account_confirm"))
    ask(setup)
    req = RedemptionRequest.objects.get()
    setup["phone"].post(reverse("account_confirm_decide", args=[req.pk]), {"answer": "no"})
    setup["ada"].refresh_from_db()
    assert setup["ada"].balance == 300
    assert RedemptionRequest.objects.get().status == "declined"


@pytest.mark.django_db
def test_with_no_page_open_the_associate_confirms(setup):
    page = ask(setup).content.decode()
    assert 'id="phone-wait"' not in page and 'id="confirm-redemption"' in page
    assert not RedemptionRequest.objects.exists()


@pytest.mark.django_db
def test_another_member_cannot_answer_and_an_old_request_lapses(setup, enroll):
    setup["phone"].get(reverse("account_confirm"))
    ask(setup)
    req = RedemptionRequest.objects.get()
    other_user = User.objects.create_user(email="bo@example.com", password="pw-12345678")
    member_enroll(email="bo@example.com", user=other_user)
    other = Client()
    other.force_login(other_user)
    assert other.get(reverse("account_confirm")).json() == {"pending": None}
    other.post(reverse("account_confirm_decide", args=[req.pk]), {"answer": "yes"})
    RedemptionRequest.objects.filter(pk=req.pk).update(
        created_at=timezone.now() - timedelta(minutes=6)
    )
    setup["phone"].post(reverse("account_confirm_decide", args=[req.pk]), {"answer": "yes"})
    setup["ada"].refresh_from_db()
    assert setup["ada"].balance == 300 and not setup["ada"].vouchers.exists()
