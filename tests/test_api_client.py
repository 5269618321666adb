"""A Python client generated from the API's own schema runs a till's day: no hand-written
HTTP, only what an integrator gets from `/api/schema/` and openapi-python-client.

The schema is read from the app, the client is generated into a temporary directory and
imported, and its httpx client talks to the app in-process (WSGI) against the test
database. The web shop's key enrols a member and turns carats into a voucher; the London
till's key (sent as `Authorization: Bearer <key>`, the generated client's default) looks
the member up by the QR payload, records a sale in GBP, replays it, takes a return and
redeems the voucher."""

import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone

from campaigns.models import Reward
from members.models import Member
from pos.models import Purchase, Return
from pos.services import api_key_create
from tests.factories import StoreFactory, make_program, make_rate

# A dev dependency ("openapi-python-client"); without it this module is skipped.
pytest.importorskip("openapi_python_client")
httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The client package generated from the schema the app serves, imported."""
    out = tmp_path_factory.mktemp("client")
    schema = out / "schema.json"
    schema.write_bytes(Client().get("/api/schema/?format=json").content)
    config = out / "config.yaml"
    config.write_text("post_hooks: []\npackage_name_override: carat_client\n")
    result = subprocess.run(  # noqa: S603 (our interpreter, our temporary paths)
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(schema),
            "--meta",
            "none",
            "--output-path",
            str(out / "carat_client"),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Generated without a warning: every part of the schema made sense to the generator.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(out))
    try:
        import carat_client

        yield carat_client
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == "carat_client"]:
            del sys.modules[name]


@pytest.fixture
def world(db):
    cache.clear()
    make_program()
    StoreFactory(code="london", name="Carat London", city="London", currency="GBP")
    make_rate("GBP", "1.170000")
    Reward.objects.create(
        name="Gift",
        kind="amount",
        cost_carats=50,
        value=Decimal("5"),
        starts_at=timezone.now() - timedelta(days=1),
    )
    _k, till = api_key_create(name="london till", store=StoreFactory(code="london"))
    _k, shop = api_key_create(name="web shop")
    # The raw WSGI calls must keep the test's connection (as Django's test client does).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield {"till": till, "shop": shop}
    finally:
        cache.clear()
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def client_for(generated, key):
    transport = httpx.WSGITransport(app=get_wsgi_application())
    return generated.AuthenticatedClient(
        base_url="http://localhost",
        token=key,
        httpx_args={"transport": transport},
        raise_on_unexpected_status=True,
    )


def test_a_generated_client_runs_the_till_s_day(generated, world):
    from carat_client.api.members import members_create, members_lookup
    from carat_client.api.rewards import (
        members_redemptions_create,
        members_rewards,
        vouchers_redeem,
    )
    from carat_client.api.sales import purchases_create, returns_create
    from carat_client.models import (
        Error,
        MemberCreateRequest,
        MemberDetail,
        MemberSummary,
        PurchaseRequest,
        PurchaseResult,
        RedemptionRequest,
        RedemptionResult,
        ReturnRequest,
        ReturnResult,
        VoucherRedeemRequest,
    )

    shop = client_for(generated, world["shop"])
    till = client_for(generated, world["till"])

    # The web shop enrols a member.
    created = members_create.sync_detailed(
        client=shop,
        body=MemberCreateRequest(email="ann@example.com", first_name="Ann"),
        idempotency_key="signup-ann",
    )
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, MemberDetail)
    number = created.parsed.number
    qr = Member.objects.get(member_number=number).qr_payload  # what the member's card shows

    # The till scans the card.
    found = members_lookup.sync(client=till, code=qr)
    assert isinstance(found, MemberSummary), found
    assert (found.number, found.first_name, found.balance) == (number, "Ann", 0)

    # A sale in GBP at the London store, then the same receipt again (a replay).
    sale = PurchaseRequest(
        member=qr, store="london", receipt_id="L-1", amount="100.00", currency="GBP"
    )
    first = purchases_create.sync_detailed(client=till, body=sale)
    assert first.status_code == 201, first.content
    assert isinstance(first.parsed, PurchaseResult)
    assert first.parsed.amount_eur == "117.00"
    assert first.parsed.carats_awarded == 117
    replay = purchases_create.sync_detailed(client=till, body=sale)
    assert replay.status_code == 200, replay.content
    assert replay.parsed.to_dict() == first.parsed.to_dict()
    assert Purchase.objects.filter(receipt_id="L-1").count() == 1

    # A return of part of it.
    back = returns_create.sync_detailed(
        client=till,
        body=ReturnRequest(store="london", receipt_id="L-1", return_id="LR-1", amount="20.00"),
    )
    assert back.status_code == 201, back.content
    assert isinstance(back.parsed, ReturnResult)
    assert Return.objects.filter(return_id="LR-1").count() == 1

    # The web shop turns carats into a voucher; the till redeems it.
    (reward,) = members_rewards.sync(client=shop, number=number)
    redeemed = members_redemptions_create.sync(
        client=shop, number=number, body=RedemptionRequest(reward=reward.id)
    )
    assert isinstance(redeemed, RedemptionResult), redeemed
    code = redeemed.voucher.code
    used = vouchers_redeem.sync_detailed(
        client=till, code=code, body=VoucherRedeemRequest(store="london")
    )
    assert used.status_code == 200, used.content

    # And a refusal reads as the one error shape, typed.
    again = vouchers_redeem.sync_detailed(
        client=till, code=code, body=VoucherRedeemRequest(store="london")
    )
    assert 400 <= again.status_code < 500
    assert isinstance(again.parsed, Error), again.content
    assert again.parsed.error.code and again.parsed.error.message
