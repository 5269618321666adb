"""The sales endpoint's lean dispatch (pos.api.base.ApiView.lean_dispatch) answers exactly as
DRF's dispatch does. The same requests are sent both ways: with `Content-Type:
application/json` (lean) and with `; charset=utf-8` appended, which DRF's dispatch
answers (the lean path takes only the plain type)."""

import json
import time
from types import SimpleNamespace

import pytest
from django.test import Client
from rest_framework.views import APIView

from members.models import LedgerEntry
from pos import api_auth
from pos.api_auth import ApiKeyRateThrottle
from pos.models import Purchase
from pos.services import api_key_create

LEAN = "application/json"
DRF = "application/json; charset=utf-8"
# Headers that differ by nature between two responses.
VARYING = {"Date", "Content-Length"}


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Idempotency records and throttle counters live in the cache."""


@pytest.fixture
def till_key(antwerp):
    return api_key_create(name="antwerp till", store=antwerp)[1]


def post(key, body, content_type, **headers):
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}" if key else "")
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post("/api/v1/purchases/", data, content_type=content_type, **headers)


def answer(response) -> tuple:
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    return response.status_code, response.json(), headers


def both(key, body, **headers) -> tuple[tuple, tuple]:
    return answer(post(key, body, LEAN, **headers)), answer(post(key, body, DRF, **headers))


def sale(member, receipt, **extra):
    return {
        "member": member.member_number,
        "store": "antwerp",
        "receipt_id": receipt,
        "amount": "129.00",
        "currency": "EUR",
        **extra,
    }


def test_a_sale_and_its_replay_answer_alike(member, till_key):
    lean = answer(post(till_key, sale(member, "L1"), LEAN))
    drf = answer(post(till_key, sale(member, "L2"), DRF))
    assert lean[0] == drf[0] == 201
    assert lean[2] == drf[2]  # every header, Allow and the security headers included
    assert lean[1].keys() == drf[1].keys()
    assert lean[1]["carats_awarded"] == drf[1]["carats_awarded"] == 129
    assert drf[1]["balance"] == lean[1]["balance"] + 129
    # A replay of the first receipt, both ways: the first result with 200.
    again_lean, again_drf = both(till_key, sale(member, "L1"))
    assert again_lean == again_drf
    assert again_lean[0] == 200 and again_lean[1] == lean[1]
    assert Purchase.objects.count() == 2
    assert LedgerEntry.objects.filter(kind="purchase").count() == 2


@pytest.mark.parametrize(
    "body",
    [
        b'{"member": ',  # not JSON
        b"[1, 2]",  # not an object
        b'{"amount": NaN}',  # JSON's non-numbers are refused
        "[" * 100_000,  # nested too deeply
        b'{"member": "\xff"}',  # not UTF-8
        {"store": "antwerp"},  # fields missing
        {"member": "1", "store": "antwerp", "receipt_id": "R", "amount": 12.5, "currency": "EUR"},
        {
            "member": "0000000000",
            "store": "antwerp",
            "receipt_id": "R",
            "amount": "1.00",
            "currency": "EUR",
        },  # no such member
        {
            "member": "1",
            "store": "brussels",
            "receipt_id": "R",
            "amount": "1.00",
            "currency": "EUR",
        },  # not this till's store
        {
            "member": "1",
            "channel": "online",
            "receipt_id": "R",
            "amount": "1.00",
            "currency": "EUR",
        },  # a till cannot record web shop sales
        {
            "member": "1",
            "store": "antwerp",
            "receipt_id": "R",
            "amount": "1.00",
            "currency": "EUR",
            "colour": "red",
        },  # an unknown field
    ],
    ids=lambda b: str(b)[:24],
)
def test_refusals_answer_alike_and_change_nothing(member, till_key, body):
    lean, drf = both(till_key, body)
    assert lean == drf
    assert 400 <= lean[0] < 500 and set(lean[1]) == {"error"}
    assert Purchase.objects.count() == 0


def test_a_conflicting_receipt_answers_alike(member, till_key):
    assert post(till_key, sale(member, "C1"), LEAN).status_code == 201
    lean, drf = both(till_key, sale(member, "C1", amount="130.00"))
    assert lean == drf and lean[0] == 409


def test_missing_and_bad_keys_are_answered_by_drf_with_the_same_words(member, till_key):
    for key in (None, "crt_nope", "crt_abc_def", till_key[:-2] + "xx"):
        lean, drf = both(key, sale(member, "K1"))
        assert lean == drf and lean[0] == 401
        assert lean[2]["WWW-Authenticate"] == "Bearer"
    assert Purchase.objects.count() == 0


def test_the_rate_limit_answers_alike(member, till_key, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    # One instant for the throttle: the three sales share a window, and both answers
    # name the same wait (a second boundary between them made "31" and "30 seconds").
    frozen = (time.time() // 60) * 60 + 1
    monkeypatch.setattr(
        api_auth, "time", SimpleNamespace(time=lambda: frozen, monotonic=time.monotonic)
    )
    assert post(till_key, sale(member, "T1"), LEAN).status_code == 201
    assert post(till_key, sale(member, "T2"), LEAN).status_code == 201
    lean, drf = both(till_key, sale(member, "T3"))
    assert lean[0] == drf[0] == 429
    assert lean[1] == drf[1]
    assert int(lean[2]["Retry-After"]) > 0
    assert Purchase.objects.count() == 2


def test_the_lean_path_does_not_wrap_the_request(member, till_key, monkeypatch):
    """It is taken: a sale of the common shape never reaches DRF's request wrapper."""

    def no_wrapper(*args, **kwargs):
        raise AssertionError("DRF's dispatch was used")

    monkeypatch.setattr(APIView, "initialize_request", no_wrapper)
    assert post(till_key, sale(member, "W1"), LEAN).status_code == 201
    assert post(till_key, sale(member, "W1"), LEAN, HTTP_ACCEPT="*/*").status_code == 200
    with pytest.raises(AssertionError, match="DRF's dispatch"):
        post(till_key, sale(member, "W2"), DRF)
