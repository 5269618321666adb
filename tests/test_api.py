"""REST API v1 over HTTP: success, replays, conflicts, authentication and bad input.

Every request goes through `Api`, which records the (path, method) of each successful
response; the last test of each API test module checks that the operations it lists in
OPERATIONS_BY_MODULE were exercised (tests/test_openapi.py checks that the schema and
COVERED_OPERATIONS, the union of those lists, agree)."""

import os
import re
import sys
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import ActionRule, Program
from members.models import ConsentChange, LedgerEntry, Member
from members.services import ledger_post, member_rotate_qr
from pos.api_auth import ApiKeyRateThrottle
from pos.models import ApiKey, Purchase, PurchaseLine, Return
from pos.services import api_key_create
from tests.factories import UserFactory
from tests.helpers import assert_balance_matches_ledger, run_in_threads
from tiers.models import MemberTier, TierChange
from tiers.services import tier_invite

# The operations of the API that each test module exercises with a successful response.
OPERATIONS_BY_MODULE = {
    "tests.test_api": {
        ("/api/v1/members/", "post"),
        ("/api/v1/members/lookup/", "get"),
        ("/api/v1/members/{number}/", "get"),
        ("/api/v1/members/{number}/", "patch"),
        ("/api/v1/members/by-external-id/{external_id}/", "get"),
        ("/api/v1/members/{number}/ledger/", "get"),
        ("/api/v1/purchases/", "post"),
        ("/api/v1/returns/", "post"),
        ("/api/v1/tiers/", "get"),
    },
    "tests.test_api_program": {
        ("/api/v1/events/", "post"),
        ("/api/v1/members/{number}/rewards/", "get"),
        ("/api/v1/members/{number}/redemptions/", "post"),
        ("/api/v1/members/{number}/vouchers/", "get"),
        ("/api/v1/vouchers/{code}/", "get"),
        ("/api/v1/vouchers/{code}/redeem/", "post"),
        ("/api/v1/vouchers/{code}/cancel/", "post"),
        ("/api/v1/members/{number}/clubs/", "get"),
        ("/api/v1/members/{number}/clubs/", "post"),
    },
    "tests.test_catalog": {
        ("/api/v1/products/", "get"),
        ("/api/v1/products/", "put"),
    },
}
COVERED_OPERATIONS = set().union(*OPERATIONS_BY_MODULE.values())
# The operations that answered successfully, per test module (recorded by Api).
EXERCISED: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)


def _current_test_module() -> str:
    """e.g. "tests.test_api" while a test of tests/test_api.py runs (also its fixtures)."""
    nodeid = os.environ.get("PYTEST_CURRENT_TEST", "")
    return nodeid.split("::")[0].removesuffix(".py").replace("/", ".")


class Api(APIClient):
    """APIClient that records which API operations answered successfully."""

    def request(self, **kwargs):
        response = super().request(**kwargs)
        match = response.resolver_match
        if 200 <= response.status_code < 300 and match and match.route.startswith("api/v1/"):
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", match.route)
            EXERCISED[_current_test_module()].add((path, kwargs["REQUEST_METHOD"].lower()))
        return response


def client_for(plain_key: str | None) -> Api:
    client = Api()
    if plain_key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain_key}")
    return client


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Idempotency records and throttle counters live in the cache."""


@pytest.fixture
def api(db):
    """The web shop / ERP: a key not bound to a store."""
    _key, plain = api_key_create(name="web shop")
    return client_for(plain)


@pytest.fixture
def till(antwerp):
    """The Antwerp till: a key bound to the Antwerp store."""
    _key, plain = api_key_create(name="antwerp till", store=antwerp)
    return client_for(plain)


def assert_error(response, status: int, code: str | None = None, field: str | None = None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"]
    assert body["error"]["message"].strip()
    if code:
        assert body["error"]["code"] == code, body
    if field:
        assert field in body["error"].get("fields", {}), body
    return body["error"]


def snapshot():
    """Everything an API call could write; compared before and after refused calls."""
    return (
        list(Member.objects.order_by("pk").values()),
        list(LedgerEntry.objects.order_by("pk").values_list("pk", "carats", "balance_after")),
        list(Purchase.objects.order_by("pk").values_list("pk", "receipt_key", "amount")),
        PurchaseLine.objects.count(),
        list(Return.objects.order_by("pk").values_list("pk", "return_key", "amount")),
        ConsentChange.objects.count(),
        list(MemberTier.objects.order_by("pk").values_list("pk", "tier_id")),
        TierChange.objects.count(),
    )


def sale_body(member, /, **changes):
    body = {
        "member": member.member_number,
        "store": "antwerp",
        "receipt_id": "R-1",
        "amount": "100.00",
        "currency": "EUR",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not REMOVE}


REMOVE = object()


def buy(client, member, /, **changes):
    return client.post("/api/v1/purchases/", sale_body(member, **changes), format="json")


def give_back(client, **changes):
    body = {"store": "antwerp", "receipt_id": "R-1", "return_id": "RT-1", "amount": "40.00"}
    body.update(changes)
    body = {k: v for k, v in body.items() if v is not REMOVE}
    return client.post("/api/v1/returns/", body, format="json")


def make_ambassador(member, tiers):
    tier_invite(
        member=member,
        tier=tiers["ambassador"],
        actor=UserFactory(email="marketing@example.com", is_staff=True),
        note="Top client",
    )


# --- Authentication -----------------------------------------------------------------------

ALL_OPERATIONS = [
    ("get", "/api/v1/members/lookup/?code=1234567897"),
    ("post", "/api/v1/members/"),
    ("get", "/api/v1/members/1234567897/"),
    ("patch", "/api/v1/members/1234567897/"),
    ("get", "/api/v1/members/by-external-id/ERP-1/"),
    ("get", "/api/v1/members/1234567897/ledger/"),
    ("post", "/api/v1/purchases/"),
    ("post", "/api/v1/returns/"),
    ("get", "/api/v1/tiers/"),
]


@pytest.mark.parametrize(("method", "path"), ALL_OPERATIONS)
def test_every_endpoint_needs_an_api_key(db, method, path):
    response = getattr(Api(), method)(path, {}, format="json")
    error = assert_error(response, 401, "not_authenticated")
    assert "Authorization: Bearer <key>" in error["message"]
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        "Api-Key crt_deadbeef_not-the-secret",
        "Api-Key not-a-key",
        "Bearer crt_deadbeef_x",
        "Api-Key crt__",
    ],
)
def test_wrong_or_malformed_keys_are_refused(member, antwerp, header):
    api_key_create(name="real")
    before = snapshot()
    client = Api()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get("/api/v1/tiers/"), 401)
    assert_error(buy(client, member), 401)
    assert snapshot() == before


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Bearer {key}"},
        {"HTTP_AUTHORIZATION": "bearer {key}"},
        {"HTTP_AUTHORIZATION": "Api-Key {key}"},
        {"HTTP_X_API_KEY": "{key}"},
    ],
    ids=["Bearer", "bearer", "Api-Key", "X-Api-Key"],
)
def test_a_key_works_as_bearer_and_as_api_key(member, antwerp, headers):
    """Bearer is the primary scheme (what generated clients and the docs' Authorize box
    send); Api-Key and X-Api-Key keep working for the clients written before."""
    _key, plain = api_key_create(name="till", store=antwerp)
    client = Api()
    client.credentials(**{name: value.format(key=plain) for name, value in headers.items()})
    assert client.get("/api/v1/tiers/").status_code == 200
    assert buy(client, member).status_code == 201


def test_a_revoked_key_is_refused_at_once(member, antwerp):
    key, plain = api_key_create(name="old till")
    client = client_for(plain)
    assert client.get("/api/v1/tiers/").status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(active=False)
    error = assert_error(client.get("/api/v1/tiers/"), 401, "authentication_failed")
    assert "revoked" in error["message"]
    assert_error(buy(client, member), 401)
    assert not Purchase.objects.exists()


def test_keys_whose_secret_contains_an_underscore_authenticate(db, program, monkeypatch):
    """Regression: the key used to be split on every "_" (4 in 10 keys were refused)."""
    monkeypatch.setattr("pos.services.keys.secrets.token_urlsafe", lambda n: "se_cr-et_x")
    _key, plain = api_key_create(name="unlucky till")
    assert client_for(plain).get("/api/v1/tiers/").status_code == 200


def test_the_key_may_also_be_sent_as_x_api_key(db, program):
    key, plain = api_key_create(name="erp")
    response = Api().get("/api/v1/tiers/", HTTP_X_API_KEY=plain)
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_member_and_staff_sessions_do_not_authenticate_to_the_api(enroll, antwerp):
    user = UserFactory(email="ada@example.com")
    member = enroll(email="ada@example.com", user=user)
    staff = UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    before = snapshot()
    for login in (user, staff):
        client = Api()
        client.force_login(login)
        assert "sessionid" in client.cookies
        assert_error(client.get(f"/api/v1/members/{member.member_number}/"), 401)
        assert_error(buy(client, member), 401)
        assert_error(
            client.patch(
                f"/api/v1/members/{member.member_number}/", {"first_name": "X"}, format="json"
            ),
            401,
        )
    assert snapshot() == before


def test_rate_limit_per_key_is_a_json_429(api, program, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    assert api.get("/api/v1/tiers/").status_code == 200
    assert api.get("/api/v1/tiers/").status_code == 200
    response = api.get("/api/v1/tiers/")
    assert_error(response, 429, "throttled")
    assert "Retry-After" in response


def test_unknown_paths_and_methods_are_json_errors(api, member, antwerp):
    before = snapshot()
    assert_error(api.get("/api/v1/nothing/"), 404, "not_found")
    assert_error(Api().get("/api/v2/tiers/"), 404, "not_found")
    error = assert_error(api.post("/api/v1/purchases", sale_body(member), format="json"), 404)
    assert error["message"] == "Add the trailing slash: /api/v1/purchases/"
    assert_error(api.delete("/api/v1/tiers/"), 405, "method_not_allowed")
    assert_error(api.put(f"/api/v1/members/{member.member_number}/", {}, format="json"), 405)
    assert snapshot() == before


# --- Member lookup --------------------------------------------------------------------------


def test_lookup_by_qr_payload_shows_the_till_summary(api, member, antwerp):
    buy(api, member, amount="100.00")
    response = api.get("/api/v1/members/lookup/", {"code": member.qr_payload})
    assert response.status_code == 200
    assert response.json() == {
        "number": member.member_number,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "tier": {"code": "radiant", "name": "Radiant", "discount_percent": "5.00"},
        "balance": 100,
        "pending_carats": 0,
        "progress": {
            "next_tier": {"code": "marquise", "name": "Marquise"},
            "carats_to_next": 400,
            "qualifying_carats": 100,
            "percent": 20,
        },
    }


def test_lookup_by_typed_member_number_with_spaces(api, member):
    n = member.member_number
    response = api.get("/api/v1/members/lookup/", {"code": f"{n[:3]} {n[3:6]} {n[6:]}"})
    assert response.status_code == 200
    assert response.json()["number"] == n


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("CARAT1:not-a-real-token", 404),
        ("0000000000", 404),  # fails the check digit
        ("Lovelace", 404),
        ("", 400),
        (None, 400),
        ("9" * 81, 400),
    ],
)
def test_lookup_of_unknown_or_malformed_codes(api, member, code, status):
    params = {} if code is None else {"code": code}
    assert_error(api.get("/api/v1/members/lookup/", params), status)


def test_lookup_with_a_rotated_qr_code_is_not_found(api, member):
    old = member.qr_payload
    member_rotate_qr(member=member)
    assert_error(api.get("/api/v1/members/lookup/", {"code": old}), 404, "unknown_member")
    assert api.get("/api/v1/members/lookup/", {"code": member.qr_payload}).status_code == 200


def test_an_ambassador_sees_their_hidden_tier_but_no_hidden_next_tier(api, member, tiers):
    make_ambassador(member, tiers)
    summary = api.get("/api/v1/members/lookup/", {"code": member.qr_payload}).json()
    assert summary["tier"] == {
        "code": "ambassador",
        "name": "Ambassador",
        "discount_percent": "20.00",
    }
    assert summary["progress"]["next_tier"] is None
    assert summary["progress"]["carats_to_next"] is None
    detail = api.get(f"/api/v1/members/{member.member_number}/").json()
    assert detail["tier"]["code"] == "ambassador"


def test_an_emerald_member_is_never_offered_the_hidden_tier_as_next(api, member, antwerp):
    result = buy(api, member, amount="1600.00").json()
    assert result["tier"]["code"] == "emerald"
    progress = api.get("/api/v1/members/lookup/", {"code": member.qr_payload}).json()["progress"]
    assert progress == {
        "next_tier": None,
        "carats_to_next": None,
        "qualifying_carats": 1600,
        "percent": 100,
    }


# --- Member create ---------------------------------------------------------------------------


NEW_MEMBER = {
    "email": "Grace@Example.com",
    "first_name": "Grace",
    "last_name": "Hopper",
    "phone": "+32470000000",
    "birth_date": "1906-12-09",
    "language": "nl",
    "country": "be",
    "external_id": "SHOP-42",
    "email_opt_in": True,
    "sms_opt_in": False,
}


def test_create_a_member(api, program):
    response = api.post("/api/v1/members/", NEW_MEMBER, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    member = Member.objects.get()
    assert member.source == "api"
    assert body["number"] == member.member_number
    assert body["email"] == "grace@example.com"
    assert (body["first_name"], body["last_name"]) == ("Grace", "Hopper")
    assert (body["country"], body["language"], body["birth_date"]) == ("BE", "nl", "1906-12-09")
    assert body["external_id"] == "SHOP-42"
    assert body["consents"]["email"]["granted"] is True
    assert body["consents"]["email"]["changed_at"] is not None
    assert body["consents"]["sms"] == {"granted": False, "changed_at": None}
    assert body["tier"] == {"code": "radiant", "name": "Radiant", "discount_percent": "5.00"}
    assert body["balance"] == 0
    assert body["purchase_count"] == 0
    assert body["lifetime_spend_eur"] == "0.00"
    assert body["first_purchase_at"] is None
    assert ConsentChange.objects.filter(member=member, channel="email", source="api").exists()


def test_create_with_a_referral_code_and_a_complete_profile_pays_the_rewards(api, member):
    for action, carats in (("referral_friend", 50), ("profile_completed", 25), ("sms_opt_in", 10)):
        ActionRule.objects.create(
            name=action, action=action, carats=carats, starts_at=timezone.now() - timedelta(days=1)
        )
    body = {**NEW_MEMBER, "referral_code": member.referral_code.lower(), "sms_opt_in": True}
    response = api.post("/api/v1/members/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["balance"] == 85
    new = Member.objects.get(email="grace@example.com")
    assert new.referred_by == member
    assert_balance_matches_ledger(new)


def test_create_with_only_an_email_uses_the_defaults(api, program):
    response = api.post("/api/v1/members/", {"email": "min@example.com"}, format="json")
    assert response.status_code == 201
    assert response.json()["language"] == "en"
    assert response.json()["external_id"] is None


def test_a_duplicate_email_or_external_id_is_a_conflict(api, member):
    before = snapshot()
    error = assert_error(
        api.post("/api/v1/members/", {"email": "ADA@example.com"}, format="json"), 409, "conflict"
    )
    assert "e-mail" in error["message"]
    api.post("/api/v1/members/", {**NEW_MEMBER, "email": "x@example.com"}, format="json")
    after_first = snapshot()
    assert_error(
        api.post("/api/v1/members/", {**NEW_MEMBER, "email": "y@example.com"}, format="json"),
        409,
        field="external_id",
    )
    assert snapshot() == after_first
    assert len(after_first[0]) == len(before[0]) + 1


def test_idempotency_key_replays_the_first_result_and_creates_nothing(api, program):
    headers = {"HTTP_IDEMPOTENCY_KEY": "9b1f0c7e-create-grace"}
    first = api.post("/api/v1/members/", NEW_MEMBER, format="json", **headers)
    assert first.status_code == 201
    before = snapshot()
    again = api.post("/api/v1/members/", NEW_MEMBER, format="json", **headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert snapshot() == before
    assert Member.objects.count() == 1


def test_idempotency_key_reused_with_other_data_is_a_conflict(api, program):
    headers = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    api.post("/api/v1/members/", NEW_MEMBER, format="json", **headers)
    before = snapshot()
    other = {**NEW_MEMBER, "email": "someone.else@example.com"}
    assert_error(
        api.post("/api/v1/members/", other, format="json", **headers),
        409,
        "idempotency_key_reused",
    )
    # Another key with the first e-mail is a new request: the e-mail is taken.
    assert_error(
        api.post("/api/v1/members/", NEW_MEMBER, format="json", HTTP_IDEMPOTENCY_KEY="k-2"),
        409,
        "conflict",
    )
    assert snapshot() == before


def test_idempotency_keys_are_per_api_key(api, program):
    api.post("/api/v1/members/", NEW_MEMBER, format="json", HTTP_IDEMPOTENCY_KEY="same")
    _key, plain = api_key_create(name="other client")
    other = client_for(plain)
    response = other.post(
        "/api/v1/members/", NEW_MEMBER, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    assert_error(response, 409, "conflict")


def test_a_refused_request_does_not_burn_its_idempotency_key(api, member):
    headers = {"HTTP_IDEMPOTENCY_KEY": "retry-me"}
    taken = {"email": "ada@example.com"}
    assert_error(api.post("/api/v1/members/", taken, format="json", **headers), 409, "conflict")
    # the client fixes the data and retries with the same key
    fixed = {"email": "ada.lovelace@example.com"}
    assert api.post("/api/v1/members/", fixed, format="json", **headers).status_code == 201


def test_an_overlong_idempotency_key_is_refused(api, program):
    response = api.post(
        "/api/v1/members/", NEW_MEMBER, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256
    )
    assert_error(response, 400, field="Idempotency-Key")
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": ""},
        {"email": "not-an-email"},
        {"email": "a@example.com", "language": "de"},
        {"email": "a@example.com", "country": "BEL"},
        {"email": "a@example.com", "country": "1!"},
        {"email": "a@example.com", "birth_date": "31/12/1990"},
        {"email": "a@example.com", "email_opt_in": "maybe"},
        {"email": "a@example.com", "first_name": None},
        {"email": "a@example.com", "first_name": "x" * 81},
        {"email": "a@example.com", "source": "import"},
        {"email": "a@example.com", "balance": 1000},
        ["a@example.com"],
    ],
)
def test_bad_member_input_is_a_400_and_creates_nothing(api, program, body):
    before = snapshot()
    assert_error(api.post("/api/v1/members/", body, format="json"), 400, "invalid")
    assert snapshot() == before


def test_non_json_bodies_are_refused(api, program):
    response = api.post("/api/v1/members/", {"email": "form@example.com"})  # multipart
    assert_error(response, 415)
    response = api.generic(
        "POST", "/api/v1/members/", '{"email": "broken@', content_type="application/json"
    )
    assert_error(response, 400, "parse_error")
    assert not Member.objects.exists()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_idempotency_key_create_one_member(program):
    _key, plain = api_key_create(name="web shop")
    body = {**NEW_MEMBER, "email": "race@example.com", "external_id": None}

    def post(i):
        client = client_for(plain)
        return client.post("/api/v1/members/", body, format="json", HTTP_IDEMPOTENCY_KEY="race")

    responses = run_in_threads(post, 10)
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {200, 201, 409}
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_in_progress"
    assert Member.objects.filter(email="race@example.com").count() == 1


# --- Member detail, update, external id, ledger -------------------------------------------


def test_member_detail_includes_the_purchase_facts(api, member, antwerp):
    when = timezone.now() - timedelta(days=3)
    buy(api, member, receipt_id="D-1", amount="120.50", occurred_at=when.isoformat())
    buy(api, member, receipt_id="D-2", amount="10.00")
    body = api.get(f"/api/v1/members/{member.member_number}/").json()
    member.refresh_from_db()
    assert body["number"] == member.member_number
    assert body["email"] == "ada@example.com"
    assert body["balance"] == 130
    assert body["purchase_count"] == 2
    assert body["lifetime_spend_eur"] == "130.50"
    assert body["first_purchase_at"] is not None
    assert body["first_purchase_at"] < body["last_purchase_at"]
    assert set(body) == {
        "number",
        "email",
        "first_name",
        "last_name",
        "phone",
        "birth_date",
        "wedding_anniversary",
        "language",
        "country",
        "external_id",
        "consents",
        "joined_at",
        "tier",
        "balance",
        "pending_carats",
        "first_purchase_at",
        "last_purchase_at",
        "purchase_count",
        "lifetime_spend_eur",
    }


@pytest.mark.parametrize("number", ["0000000000", "1234567890", "abc"])
def test_unknown_member_numbers_are_404(api, member, number):
    for path in (f"/api/v1/members/{number}/", f"/api/v1/members/{number}/ledger/"):
        assert_error(api.get(path), 404, "unknown_member")
    assert_error(api.patch(f"/api/v1/members/{number}/", {"first_name": "X"}, format="json"), 404)


def test_patch_changes_the_profile_and_records_consents(api, member):
    url = f"/api/v1/members/{member.member_number}/"
    response = api.patch(
        url,
        {
            "first_name": " Augusta ",
            "wedding_anniversary": "1835-07-08",
            "email_opt_in": True,
            "country": "gb",
            "external_id": "ERP-7",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["first_name"] == "Augusta"
    assert body["last_name"] == "Lovelace"  # untouched
    assert body["wedding_anniversary"] == "1835-07-08"
    assert body["country"] == "GB"
    assert body["consents"]["email"]["granted"] is True
    assert body["consents"]["email"]["changed_at"] is not None
    change = ConsentChange.objects.get(member=member)
    assert (change.channel, change.granted, change.source) == ("email", True, "api")
    assert api.get(url).json() == body


def test_completing_the_profile_by_patch_pays_the_profile_reward_once(api, member):
    ActionRule.objects.create(
        name="Complete profile",
        action="profile_completed",
        carats=25,
        starts_at=timezone.now() - timedelta(days=1),
    )
    url = f"/api/v1/members/{member.member_number}/"
    changes = {"phone": "+447700900000", "birth_date": "1815-12-10"}
    assert api.patch(url, changes, format="json").json()["balance"] == 25
    assert api.patch(url, {"phone": "+447700900001"}, format="json").json()["balance"] == 25
    assert_balance_matches_ledger(member)


def test_patch_with_a_taken_email_or_bad_input_changes_nothing(api, member, enroll):
    other = enroll(email="other@example.com", external_id="ERP-9")
    url = f"/api/v1/members/{member.member_number}/"
    before = snapshot()
    assert_error(api.patch(url, {"email": "OTHER@example.com"}, format="json"), 409, "conflict")
    assert_error(api.patch(url, {"external_id": "ERP-9"}, format="json"), 409, "conflict")
    assert_error(api.patch(url, {"first_nam": "typo"}, format="json"), 400, field="first_nam")
    assert_error(api.patch(url, {"language": "xx"}, format="json"), 400, field="language")
    assert_error(api.patch(url, {"balance": 1_000_000}, format="json"), 400, field="balance")
    assert_error(api.patch(url, {"email": "nope"}, format="json"), 400, field="email")
    assert snapshot() == before
    assert other.email == "other@example.com"


def test_find_a_member_by_external_id(api, enroll):
    member = enroll(email="erp@example.com", external_id="CUST/2025/001")
    response = api.get("/api/v1/members/by-external-id/CUST/2025/001/")
    assert response.status_code == 200
    assert response.json()["number"] == member.member_number
    assert_error(api.get("/api/v1/members/by-external-id/CUST-404/"), 404, "unknown_member")


def test_ledger_is_paginated_newest_first(api, member, antwerp):
    for i in range(3):
        ledger_post(member=member, carats=10 + i, kind="bonus", reason=f"gift {i}", key=f"g{i}")
    buy(api, member, amount="50.00")
    url = f"/api/v1/members/{member.member_number}/ledger/"
    page = api.get(url, {"limit": 2}).json()
    assert page["count"] == 4
    assert page["previous"] is None and "offset=2" in page["next"]
    first, second = page["results"]
    assert (first["kind"], first["carats"], first["balance_after"]) == ("purchase", 50, 83)
    assert first["reason"].startswith("Purchase R-1 at Carat Antwerp")
    assert (second["kind"], second["carats"], second["balance_after"]) == ("bonus", 12, 33)
    assert set(first) == {"created_at", "kind", "carats", "balance_after", "reason"}
    rest = api.get(url, {"limit": 2, "offset": 2}).json()["results"]
    assert [e["carats"] for e in rest] == [11, 10]


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "ten"},
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "501"},
        {"limit": "2.5"},
        {"limit": str(2**63)},
        {"offset": "-978383"},
        {"offset": "x"},
        {"offset": str(10**30)},
    ],
)
def test_garbage_paging_parameters_are_a_400_naming_them(api, member, query):
    """The schema bounds limit (1-500) and offset (0 or more); a value outside them is
    refused, not replaced by the default (which hid the client's mistake)."""
    url = f"/api/v1/members/{member.member_number}/ledger/"
    (name,) = query
    assert_error(api.get(url, query), 400, "invalid", field=name)
    assert api.get(url, {"limit": "500", "offset": "0"}).status_code == 200


# --- Purchases ----------------------------------------------------------------------------------


def test_a_store_sale_awards_carats(api, member, antwerp):
    response = buy(api, member, amount="129.90")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "carats_awarded": 129,
        "carats_status": "credited",
        "balance": 129,
        "amount_eur": "129.90",
        "tier": {"code": "radiant", "name": "Radiant", "discount_percent": "5.00"},
        "tier_changed": False,
        "receipt_id": "R-1",
        "member": member.member_number,
    }
    purchase = Purchase.objects.get()
    assert (purchase.channel, purchase.store, purchase.amount) == (
        "store",
        antwerp,
        Decimal("129.90"),
    )
    assert purchase.client == "api:web shop"
    assert_balance_matches_ledger(member)


def test_a_replayed_receipt_returns_the_same_body_and_changes_nothing(api, member, antwerp):
    first = buy(api, member, amount="250.00", lines=[{"sku": "RING-1", "amount": "250.00"}])
    assert first.status_code == 201
    before = snapshot()
    again = buy(api, member, amount="250.00", lines=[{"sku": "RING-1", "amount": "250.00"}])
    assert again.status_code == 200
    assert again.json() == first.json()
    assert snapshot() == before


def test_the_same_receipt_with_other_data_is_a_conflict(api, member, antwerp, enroll):
    buy(api, member, amount="250.00")
    before = snapshot()
    assert_error(buy(api, member, amount="260.00"), 409, "receipt_conflict")
    someone_else = enroll(email="eve@example.com")
    before = snapshot()
    assert_error(buy(api, someone_else, amount="250.00"), 409, "receipt_conflict")
    assert snapshot() == before


def test_a_sale_by_qr_payload_with_lines_and_a_past_date(api, member, antwerp):
    when = timezone.now() - timedelta(days=2)
    response = buy(
        api,
        member,
        member=member.qr_payload,
        occurred_at=when.isoformat(),
        lines=[
            {"sku": "RING-1", "category": "rings", "quantity": 1, "amount": "80.00"},
            {"sku": "CARE", "amount": "20.00", "service_guarantee": True, "quantity": 2},
        ],
    )
    assert response.status_code == 201, response.content
    purchase = Purchase.objects.get()
    assert purchase.occurred_at == when
    lines = list(purchase.lines.order_by("sku").values_list("sku", "quantity", "amount"))
    assert lines == [("CARE", 2, Decimal("20.00")), ("RING-1", 1, Decimal("80.00"))]


def test_an_online_sale_in_gbp_is_converted_at_the_rate(api, member, gbp):
    response = buy(api, member, store=REMOVE, channel="online", amount="100.00", currency="GBP")
    assert response.status_code == 201, response.content
    assert response.json()["amount_eur"] == "117.00"
    assert response.json()["carats_awarded"] == 117
    purchase = Purchase.objects.get()
    assert (purchase.channel, purchase.store) == ("online", None)


def test_a_sale_that_crosses_a_threshold_upgrades_the_tier(api, member, antwerp):
    body = buy(api, member, amount="600.00").json()
    assert body["tier_changed"] is True
    assert body["tier"] == {"code": "marquise", "name": "Marquise", "discount_percent": "10.00"}


def test_a_sale_to_an_ambassador_shows_the_hidden_tier_for_its_discount(
    api, member, tiers, antwerp
):
    make_ambassador(member, tiers)
    body = buy(api, member).json()
    assert body["tier"] == {"code": "ambassador", "name": "Ambassador", "discount_percent": "20.00"}
    assert body["tier_changed"] is False


def test_inside_the_return_window_carats_are_pending_and_a_return_cancels_them(
    api, member, antwerp
):
    Program.objects.filter(pk=1).update(pending_days=30)
    sale = buy(api, member, amount="100.00").json()
    assert (sale["carats_awarded"], sale["carats_status"], sale["balance"]) == (100, "pending", 0)
    ret = give_back(api, amount="40.00").json()
    assert (ret["carats_cancelled"], ret["carats_reversed"], ret["balance"]) == (40, 0, 0)
    assert_balance_matches_ledger(member)


def test_a_replayed_pending_sale_still_says_pending(api, member, antwerp):
    Program.objects.filter(pk=1).update(pending_days=30)
    first = buy(api, member, amount="100.00").json()
    assert buy(api, member, amount="100.00").json() == first
    assert Purchase.objects.get().carats_status == "pending"


BAD_SALES = [
    ({"amount": "-5.00"}, 400, "amount"),
    ({"amount": "0"}, 400, "amount"),
    ({"amount": "abc"}, 400, "amount"),
    ({"amount": "1.001"}, 400, "amount"),
    ({"amount": "NaN"}, 400, "amount"),
    ({"amount": ""}, 400, "amount"),
    ({"amount": 12.5}, 400, "amount"),
    ({"amount": 100}, 400, "amount"),
    ({"amount": True}, 400, "amount"),
    ({"amount": None}, 400, "amount"),
    ({"amount": REMOVE}, 400, "amount"),
    ({"currency": "XYZ"}, 400, "currency"),
    ({"currency": "EURO"}, 400, "currency"),
    ({"currency": REMOVE}, 400, "currency"),
    ({"store": "nowhere"}, 400, "store"),
    ({"store": REMOVE}, 400, "store"),
    ({"store": REMOVE, "channel": "store"}, 400, "store"),
    ({"store": REMOVE, "channel": "import"}, 400, "channel"),
    ({"channel": "online"}, 400, "channel"),
    ({"receipt_id": REMOVE}, 400, "receipt_id"),
    ({"receipt_id": ""}, 400, "receipt_id"),
    ({"receipt_id": "R" * 65}, 400, "receipt_id"),
    ({"member": REMOVE}, 400, "member"),
    ({"member": "CARAT1:unknown-token"}, 404, None),
    ({"member": "0000000000"}, 404, None),
    ({"occurred_at": "2030-01-01T10:00:00+01:00"}, 400, "occurred_at"),
    ({"occurred_at": "2025-01-01T10:00:00"}, 400, "occurred_at"),
    ({"occurred_at": "yesterday"}, 400, "occurred_at"),
    ({"lines": [{"sku": "X", "amount": 10}]}, 400, "lines"),
    ({"lines": [{"amount": "10.00"}]}, 400, "lines"),
    ({"lines": [{"sku": "X", "amount": "10.00", "quantity": 0}]}, 400, "lines"),
    ({"lines": [{"sku": "X", "amount": "-1.00"}]}, 400, None),
    ({"lines": [{"sku": "X", "amount": "1.00", "colour": "red"}]}, 400, "lines"),
    ({"lines": "RING-1"}, 400, "lines"),
    ({"amout": "100.00"}, 400, "amout"),
]


@pytest.mark.parametrize(("changes", "status", "field"), BAD_SALES)
def test_bad_sales_are_4xx_json_and_change_nothing(api, member, antwerp, changes, status, field):
    before = snapshot()
    assert_error(buy(api, member, **changes), status, field=field)
    assert snapshot() == before
    assert not Purchase.objects.exists()


def test_a_sale_dated_slightly_ahead_is_within_the_tolerance(api, member, antwerp):
    response = buy(api, member, occurred_at=(timezone.now() + timedelta(minutes=2)).isoformat())
    assert response.status_code == 201
    too_far = (timezone.now() + timedelta(minutes=30)).isoformat()
    error = assert_error(buy(api, member, receipt_id="R-2", occurred_at=too_far), 400)
    assert "future" in error["message"]


def test_a_sale_in_a_closed_store_is_refused(api, member, antwerp):
    antwerp.active = False
    antwerp.save()
    assert_error(buy(api, member), 400, field="store")
    assert not Purchase.objects.exists()


def test_a_missing_exchange_rate_is_a_clear_400(api, member, london):
    assert_error(buy(api, member, store="london", currency="GBP"), 400, "unknown_currency")


def test_a_till_records_sales_only_for_its_own_store(till, member, antwerp, london, gbp):
    assert buy(till, member).status_code == 201
    before = snapshot()
    error = assert_error(buy(till, member, store="london", currency="GBP"), 403)
    assert "antwerp" in error["message"]
    assert_error(buy(till, member, store=REMOVE, channel="online"), 403)
    assert_error(buy(till, member, store="nowhere"), 403)
    assert snapshot() == before


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_posting_one_receipt_award_once(enroll, antwerp):
    member = enroll(email="threads@example.com")
    _key, plain = api_key_create(name="till", store=antwerp)
    body = sale_body(member, receipt_id="T-1", amount="420.00")

    def post(i):
        return client_for(plain).post("/api/v1/purchases/", body, format="json")

    responses = run_in_threads(post, 20)
    errors = [r for r in responses if isinstance(r, Exception)]
    assert not errors, errors
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1, statuses
    assert statuses.count(200) == 19, statuses
    assert len({r.content for r in responses}) == 1
    assert responses[0].json()["balance"] == 420
    member.refresh_from_db()
    assert member.balance == 420
    assert member.purchase_count == 1
    ledger_sum = LedgerEntry.objects.filter(member=member).aggregate(s=Sum("carats"))["s"]
    assert member.balance == ledger_sum
    assert Purchase.objects.count() == 1


# --- Returns ----------------------------------------------------------------------------------


def test_a_return_takes_back_carats_in_proportion(api, member, antwerp):
    buy(api, member, amount="100.00")
    response = give_back(api, amount="40.00")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "carats_reversed": 40,
        "carats_cancelled": 0,
        "carats_unrecovered": 0,
        "balance": 60,
        "return_id": "RT-1",
        "receipt_id": "R-1",
    }
    assert_balance_matches_ledger(member)
    member.refresh_from_db()
    assert member.lifetime_spend_eur == Decimal("60.00")


def test_a_replayed_return_returns_the_same_body_and_changes_nothing(api, member, antwerp):
    buy(api, member, amount="100.00")
    first = give_back(api)
    before = snapshot()
    again = give_back(api)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert snapshot() == before


def test_an_online_return(api, member, program):
    buy(api, member, store=REMOVE, channel="online", receipt_id="WEB-1")
    response = give_back(api, store=REMOVE, channel="online", receipt_id="WEB-1")
    assert response.status_code == 201
    assert response.json()["balance"] == 60


def test_a_return_when_the_carats_were_spent_never_goes_negative(api, member, antwerp):
    buy(api, member, amount="100.00")
    ledger_post(member=member, carats=-80, kind="redemption", reason="gift", key="spent")
    body = give_back(api, amount="100.00").json()
    assert (body["carats_reversed"], body["carats_unrecovered"], body["balance"]) == (20, 80, 0)


BAD_RETURNS = [
    ({"amount": "100.01"}, 400, "return_too_large"),
    ({"amount": 40.0}, 400, "invalid"),
    ({"amount": 40}, 400, "invalid"),
    ({"amount": "-1.00"}, 400, "invalid"),
    ({"amount": REMOVE}, 400, "invalid"),
    ({"return_id": REMOVE}, 400, "invalid"),
    ({"return_id": " "}, 400, "invalid"),
    ({"receipt_id": REMOVE}, 400, "invalid"),
    ({"receipt_id": "NOPE"}, 404, "unknown_receipt"),
    ({"store": "nowhere"}, 400, "unknown_store"),
    ({"store": REMOVE}, 400, "invalid"),
    ({"store": REMOVE, "channel": "online"}, 404, "unknown_receipt"),
    ({"reason": "broken"}, 400, "invalid"),
]


@pytest.mark.parametrize(("changes", "status", "code"), BAD_RETURNS)
def test_bad_returns_are_4xx_json_and_change_nothing(api, member, antwerp, changes, status, code):
    buy(api, member, amount="100.00")
    before = snapshot()
    assert_error(give_back(api, **changes), status, code)
    assert snapshot() == before


def test_a_return_larger_than_what_is_left_is_refused(api, member, antwerp):
    buy(api, member, amount="100.00")
    give_back(api, return_id="RT-1", amount="60.00")
    before = snapshot()
    error = assert_error(give_back(api, return_id="RT-2", amount="40.01"), 400, field="amount")
    assert "40.00" in error["message"]
    assert snapshot() == before


def test_the_same_return_id_with_another_amount_is_a_conflict(api, member, antwerp):
    buy(api, member, amount="100.00")
    give_back(api, amount="40.00")
    before = snapshot()
    assert_error(give_back(api, amount="30.00"), 409, "return_conflict")
    assert snapshot() == before


def test_a_till_records_returns_only_for_its_own_store(till, api, member, antwerp, london, gbp):
    buy(api, member, store="london", currency="GBP", receipt_id="L-1")
    buy(api, member, store=REMOVE, channel="online", receipt_id="W-1")
    before = snapshot()
    assert_error(give_back(till, store="london", receipt_id="L-1"), 403, "store_not_allowed")
    assert_error(give_back(till, store=REMOVE, channel="online", receipt_id="W-1"), 403)
    assert snapshot() == before
    buy(till, member, receipt_id="A-1")
    assert give_back(till, receipt_id="A-1").status_code == 201


# --- Tiers ------------------------------------------------------------------------------------


def test_tiers_lists_only_the_public_tiers(api, tiers):
    tiers["marquise"].benefits = "Private viewings"
    tiers["marquise"].save()
    response = api.get("/api/v1/tiers/")
    assert response.status_code == 200
    body = response.json()
    assert [t["code"] for t in body] == ["radiant", "marquise", "emerald"]
    assert body[1] == {
        "code": "marquise",
        "name": "Marquise",
        "threshold": 500,
        "discount_percent": "10.00",
        "benefits": "Private viewings",
    }
    assert "mbassador" not in response.content.decode()


# --- Coverage of the schema ---------------------------------------------------------------------


def assert_operations_exercised(request, module) -> None:
    """For the last test of an API test module: every operation the module lists in
    OPERATIONS_BY_MODULE answered one of its own tests successfully, and nothing answered
    any test that is not listed at all. Only meaningful when the whole module ran."""
    defined = {name for name in vars(module) if name.startswith("test_")}
    selected = {item.originalname for item in request.session.items if item.module is module}
    if defined - selected:
        pytest.skip(f"only checked when the whole of {module.__name__} runs")
    missing = OPERATIONS_BY_MODULE[module.__name__] - EXERCISED[module.__name__]
    assert not missing, f"listed for {module.__name__} but never answered: {sorted(missing)}"
    unlisted = set().union(*EXERCISED.values()) - COVERED_OPERATIONS
    assert not unlisted, f"answered successfully but not listed: {sorted(unlisted)}"


def test_every_documented_operation_was_exercised(request):
    """Runs last: every operation listed for this module answered a test successfully."""
    assert_operations_exercised(request, sys.modules[__name__])
