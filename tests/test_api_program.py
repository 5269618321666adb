"""REST API v1, the program engine: events, rewards and redemptions, vouchers, clubs and
pending carats over HTTP. Success, replays, conflicts, authentication, bad input and races.

Requests go through tests.test_api.Api, which records the operations that answered; the
last test checks the ones listed for this module in OPERATIONS_BY_MODULE."""

import sys
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import resolve
from django.utils import timezone

from campaigns.models import (
    ActionRule,
    ActionType,
    Award,
    Club,
    ClubMembership,
    HeldCarats,
    Program,
    Reward,
    Voucher,
)
from campaigns.selectors import pending_carats_for
from members.models import LedgerEntry
from members.services import ledger_post
from pos.services import api_key_create
from tests.factories import UserFactory
from tests.helpers import assert_balance_matches_ledger, run_in_threads
from tests.test_api import (
    OPERATIONS_BY_MODULE,
    REMOVE,
    Api,
    assert_error,
    assert_operations_exercised,
    buy,
    client_for,
    make_ambassador,
)
from tests.test_api import snapshot as core_snapshot


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


def snapshot():
    """Everything a program call could write; compared before and after refused calls."""
    return (
        core_snapshot(),
        list(
            Voucher.objects.order_by("pk").values_list(
                "pk", "code", "status", "used_at", "used_where", "cancelled_at"
            )
        ),
        list(Reward.objects.order_by("pk").values_list("pk", "issued_count")),
        list(ClubMembership.objects.order_by("pk").values_list("pk", "started_at", "ends_at")),
        list(Award.objects.order_by("pk").values_list("pk", "carats")),
        list(ActionRule.objects.order_by("pk").values_list("pk", "carats_given")),
    )


def fund(member, carats, key="fund"):
    ledger_post(member=member, carats=carats, kind="bonus", reason="test", key=f"{key}:{member.pk}")


def make_rule(action="review", carats=20, **kw):
    kw.setdefault("name", "Product review")
    kw.setdefault("starts_at", timezone.now() - timedelta(days=1))
    return ActionRule.objects.create(action=action, carats=carats, **kw)


def make_reward(**kw):
    kw.setdefault("name", "EUR 25 voucher")
    kw.setdefault("kind", "amount")
    kw.setdefault("cost_carats", 500)
    kw.setdefault("value", Decimal("25"))
    kw.setdefault("starts_at", timezone.now() - timedelta(days=1))
    return Reward.objects.create(**kw)


def make_club(**kw):
    kw.setdefault("name", "Watch Club")
    kw.setdefault("cost_carats", 2000)
    return Club.objects.create(**kw)


def event(client, member, /, **changes):
    body = {"member": member.member_number, "type": "review", "reference": "RING-1"}
    body.update(changes)
    body = {k: v for k, v in body.items() if v is not REMOVE}
    return client.post("/api/v1/events/", body, format="json")


def redeem(client, member, reward, /, **headers):
    url = f"/api/v1/members/{member.member_number}/redemptions/"
    return client.post(url, {"reward": reward.pk}, format="json", **headers)


def new_voucher(client, member, reward) -> str:
    response = redeem(client, member, reward)
    assert response.status_code == 201, response.content
    return response.json()["voucher"]["code"]


def use(client, code, body=None, /, **headers):
    return client.post(f"/api/v1/vouchers/{code}/redeem/", body or {}, format="json", **headers)


def cancel(client, code, /, **headers):
    return client.post(f"/api/v1/vouchers/{code}/cancel/", {}, format="json", **headers)


def join(client, member, club, /, **headers):
    url = f"/api/v1/members/{member.member_number}/clubs/"
    return client.post(url, {"club": club.pk}, format="json", **headers)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- Authentication -------------------------------------------------------------------------

PROGRAM_OPERATIONS = [
    ("post", "/api/v1/events/"),
    ("get", "/api/v1/members/1234567897/rewards/"),
    ("post", "/api/v1/members/1234567897/redemptions/"),
    ("get", "/api/v1/members/1234567897/vouchers/"),
    ("get", "/api/v1/vouchers/VABCDE-FGHJK/"),
    ("post", "/api/v1/vouchers/VABCDE-FGHJK/redeem/"),
    ("post", "/api/v1/vouchers/VABCDE-FGHJK/cancel/"),
    ("get", "/api/v1/members/1234567897/clubs/"),
    ("post", "/api/v1/members/1234567897/clubs/"),
]


def test_the_auth_checks_cover_every_operation_of_this_module():
    routed = set()
    for method, path in PROGRAM_OPERATIONS:
        route = resolve(path.split("?")[0]).route
        routed.add(("/" + route.replace("<str:", "{").replace(">", "}"), method))
    assert routed == OPERATIONS_BY_MODULE[__name__]


@pytest.mark.parametrize(("method", "path"), PROGRAM_OPERATIONS)
def test_every_program_endpoint_needs_an_api_key(member, method, path):
    before = snapshot()
    response = getattr(Api(), method)(path, {}, format="json")
    error = assert_error(response, 401, "not_authenticated")
    assert "Authorization: Bearer <key>" in error["message"]
    client = Api()
    client.credentials(HTTP_AUTHORIZATION="Api-Key crt_deadbeef_not-the-secret")
    assert_error(getattr(client, method)(path, {}, format="json"), 401, "authentication_failed")
    assert snapshot() == before


def test_staff_sessions_cannot_redeem_or_cancel_vouchers(api, member):
    fund(member, 600)
    code = new_voucher(api, member, make_reward())
    staff = UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    client = Api()
    client.force_login(staff)
    before = snapshot()
    assert_error(use(client, code), 401)
    assert_error(cancel(client, code), 401)
    assert_error(event(client, member), 401)
    assert snapshot() == before


# --- Events -------------------------------------------------------------------------------------


def test_an_event_awards_carats_and_a_replay_returns_the_first_result(api, member):
    make_rule("review", 20)
    first = event(api, member, reference="RING-1")
    assert first.status_code == 201, first.content
    assert first.json() == {
        "carats_awarded": 20,
        "balance": 20,
        "reason": "Product review (RING-1)",
        "type": "review",
        "reference": "RING-1",
    }
    assert event(api, member, reference="RING-2").json()["balance"] == 40
    before = snapshot()
    again = event(api, member, reference="RING-1")
    assert again.status_code == 200
    assert again.json() == first.json()  # the balance right after the first booking
    assert snapshot() == before
    entries = LedgerEntry.objects.filter(member=member, kind="action")
    assert sorted(entries.values_list("carats", flat=True)) == [20, 20]
    assert_balance_matches_ledger(member)


def test_an_event_by_qr_payload(api, member):
    make_rule("event_attendance", 50, name="Brand event")
    response = event(
        api, member, member=member.qr_payload, type="event_attendance", reference=" gala-2025 "
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["carats_awarded"], body["reference"]) == (50, "gala-2025")


def test_a_till_cannot_report_events(till, member):
    """A till's key records its store's sales; carats for events come from the web shop
    or the ERP (integration keys) only: 20 calls of a till's key minted 1,000 carats."""
    make_rule("event_attendance", 50, name="Brand event")
    before = snapshot()
    for reference in ("gala-1", "gala-2"):
        response = event(till, member, type="event_attendance", reference=reference)
        assert_error(response, 403, "scope_not_allowed")
    assert "integration" in response.json()["error"]["message"]
    assert snapshot() == before


def test_an_event_without_an_active_rule_gives_nothing_and_says_why(api, member):
    fund(member, 5)
    make_rule("review", 20, ends_at=timezone.now() - timedelta(hours=1))
    make_rule("review", 20, active=False)
    before = snapshot()
    response = event(api, member)
    assert response.status_code == 200
    assert response.json() == {
        "carats_awarded": 0,
        "balance": 5,
        "reason": "No active rule rewards review.",
        "type": "review",
        "reference": "RING-1",
    }
    assert snapshot() == before


def test_an_event_over_the_limits_gives_what_is_left_then_nothing(api, member, enroll):
    make_rule("ugc", 20, name="Your photos", max_per_member=30)
    assert event(api, member, type="ugc", reference="post-1").json()["carats_awarded"] == 20
    second = event(api, member, type="ugc", reference="post-2")
    assert (second.status_code, second.json()["carats_awarded"]) == (201, 10)
    before = snapshot()
    third = event(api, member, type="ugc", reference="post-3")
    assert third.status_code == 200
    assert third.json() == {
        "carats_awarded": 0,
        "balance": 30,
        "reason": "Limit reached for Your photos.",
        "type": "ugc",
        "reference": "post-3",
    }
    assert snapshot() == before
    # A total budget: the second member gets nothing once it is spent.
    make_rule("social_follow", 25, name="Follow us", budget_carats=25)
    assert event(api, member, type="social_follow", reference="ig").json()["balance"] == 55
    other = enroll()
    body = event(api, other, type="social_follow", reference="ig").json()
    assert (body["carats_awarded"], body["reason"]) == (0, "Limit reached for Follow us.")
    assert_balance_matches_ledger(member)


NUMBER_AS_INT = object()

BAD_EVENTS = [
    ({"type": "REVIEW"}, 400, "type"),
    ({"type": ""}, 400, "type"),
    ({"type": 5}, 400, "type"),
    ({"type": None}, 400, "type"),
    ({"type": ["review"]}, 400, "type"),
    ({"type": REMOVE}, 400, "type"),
    ({"type": "signup"}, 400, "type"),
    ({"type": "profile_completed"}, 400, "type"),
    ({"type": "sms_opt_in"}, 400, "type"),
    ({"type": "referral_referrer"}, 400, "type"),
    ({"type": "referral_friend"}, 400, "type"),
    ({"reference": REMOVE}, 400, "reference"),
    ({"reference": ""}, 400, "reference"),
    ({"reference": "   "}, 400, "reference"),
    ({"reference": None}, 400, "reference"),
    ({"reference": 12345}, 400, "reference"),
    ({"reference": 1.5}, 400, "reference"),
    ({"reference": True}, 400, "reference"),
    ({"reference": "x" * 121}, 400, "reference"),
    ({"member": REMOVE}, 400, "member"),
    ({"member": NUMBER_AS_INT}, 400, "member"),
    ({"member": ""}, 400, "member"),
    ({"member": "0000000000"}, 404, None),
    ({"member": "1234567897"}, 404, None),
    ({"member": "CARAT1:not-a-real-token"}, 404, None),
    ({"carats": 1000}, 400, "carats"),
]


@pytest.mark.parametrize(("changes", "status", "field"), BAD_EVENTS)
def test_bad_events_are_4xx_json_and_change_nothing(api, member, changes, status, field):
    for action in ActionType.values:
        make_rule(action, 100, name=action)
    if changes.get("member") is NUMBER_AS_INT:
        changes = {**changes, "member": int(member.member_number)}
    before = snapshot()
    error = assert_error(event(api, member, **changes), status, field=field)
    if status == 404:
        assert error["code"] == "unknown_member"
    assert snapshot() == before


def test_an_unknown_event_type_names_the_accepted_ones(api, member):
    error = assert_error(event(api, member, type="tweet"), 400, "invalid", field="type")
    assert '"tweet"' in error["message"]
    for accepted in ("review", "review_photo", "social_follow", "ugc", "event_attendance"):
        assert accepted in error["message"]
    error = assert_error(event(api, member, type="signup", reference="again"), 400, field="type")
    assert "program itself" in error["message"]


def test_cart_abandoned_schedules_the_basket_mail_once(api, member):
    from campaigns.models import MessageLog, TriggerConfig

    TriggerConfig.objects.create(trigger="cart_abandoned", subject_en="Your basket", body_en="x")
    lines = [{"sku": "RING-1", "name": "Solitaire", "quantity": 1}]
    first = event(api, member, type="cart_abandoned", reference="cart-9", lines=lines)
    assert first.status_code == 201, first.json()
    assert first.json()["carats_awarded"] == 0
    again = event(api, member, type="cart_abandoned", reference="cart-9", lines=lines)
    assert again.status_code == 200
    row = MessageLog.objects.get(member=member, trigger="cart_abandoned")
    assert (row.status, row.context["lines"][0]["sku"]) == ("scheduled", "RING-1")
    bad = event(api, member, type="cart_abandoned", reference="cart-10", lines=[{"sku": 5}])
    assert_error(bad, 400, field="lines")


# --- Rewards catalog ------------------------------------------------------------------------------


def test_the_rewards_a_member_may_redeem(api, member, tiers):
    fund(member, 600)
    polish = make_reward(
        name="Polishing", kind="product", cost_carats=100, value=Decimal("0"), description="Shine"
    )
    voucher = make_reward(stock=3)
    Reward.objects.filter(pk=voucher.pk).update(issued_count=1)
    make_reward(name="VIP dinner", kind="experience", cost_carats=5000, stock=2)
    make_reward(name="Atelier visit", cost_carats=300).tiers.set([tiers["ambassador"]])
    make_reward(name="Marquise gift", cost_carats=300).tiers.set([tiers["marquise"]])
    make_reward(name="Retired", active=False)
    make_reward(name="Next season", starts_at=timezone.now() + timedelta(days=1))
    make_reward(name="Last season", ends_at=timezone.now() - timedelta(hours=1))
    response = api.get(f"/api/v1/members/{member.member_number}/rewards/")
    assert response.status_code == 200
    body = response.json()
    assert [r["name"] for r in body] == ["Polishing", "EUR 25 voucher", "VIP dinner"]
    assert body[0] == {
        "id": polish.pk,
        "name": "Polishing",
        "description": "Shine",
        "kind": "product",
        "cost_carats": 100,
        "value": "0.00",
        "stock_left": None,
        "affordable": True,
    }
    assert body[1]["id"] == voucher.pk
    assert (body[1]["value"], body[1]["stock_left"], body[1]["affordable"]) == ("25.00", 2, True)
    assert (body[2]["stock_left"], body[2]["affordable"]) == (2, False)
    assert "Atelier" not in response.content.decode()


def test_an_ambassador_also_sees_the_hidden_tiers_rewards(api, member, tiers):
    make_reward(name="Atelier visit", cost_carats=300).tiers.set([tiers["ambassador"]])
    make_reward(name="EUR 25 voucher")
    make_ambassador(member, tiers)
    body = api.get(f"/api/v1/members/{member.member_number}/rewards/").json()
    assert [r["name"] for r in body] == ["Atelier visit", "EUR 25 voucher"]


@pytest.mark.parametrize("number", ["0000000000", "1234567897", "abc"])
def test_unknown_members_are_404_on_every_member_resource(api, program, number):
    reward, club = make_reward(), make_club()
    before = snapshot()
    base = f"/api/v1/members/{number}"
    for path in (f"{base}/rewards/", f"{base}/vouchers/", f"{base}/clubs/"):
        assert_error(api.get(path), 404, "unknown_member")
    response = api.post(f"{base}/redemptions/", {"reward": reward.pk}, format="json")
    assert_error(response, 404, "unknown_member")
    assert_error(api.post(f"{base}/clubs/", {"club": club.pk}, format="json"), 404)
    assert snapshot() == before


# --- Redemptions ----------------------------------------------------------------------------------


def test_redeeming_a_reward_debits_and_issues_a_voucher(api, member):
    fund(member, 600)
    reward = make_reward(stock=5, voucher_valid_days=30)
    response = redeem(api, member, reward)
    assert response.status_code == 201, response.content
    body = response.json()
    voucher = Voucher.objects.get()
    assert body["balance"] == 100
    assert body["voucher"] == {
        "code": voucher.code,
        "title": "EUR 25 voucher",
        "kind": "amount",
        "value": "25.00",
        "status": "issued",
        "issued_at": body["voucher"]["issued_at"],
        "valid_until": body["voucher"]["valid_until"],
        "used_at": None,
    }
    assert when(body["voucher"]["valid_until"]) == voucher.valid_until
    assert voucher.valid_until - timezone.now() > timedelta(days=29)
    reward.refresh_from_db()
    assert reward.issued_count == 1
    entry = LedgerEntry.objects.get(member=member, kind="redemption")
    assert entry.carats == -500
    assert voucher.code in entry.reason
    assert_balance_matches_ledger(member)


def test_without_an_idempotency_key_each_request_redeems(api, member):
    fund(member, 1000)
    reward = make_reward()
    assert redeem(api, member, reward).status_code == 201
    assert redeem(api, member, reward).json()["balance"] == 0
    assert Voucher.objects.count() == 2


def test_a_redemption_with_an_idempotency_key_is_spent_once(api, member):
    fund(member, 1200)
    reward, other = make_reward(), make_reward(name="Polishing", cost_carats=100)
    headers = {"HTTP_IDEMPOTENCY_KEY": "order-77"}
    first = redeem(api, member, reward, **headers)
    assert first.status_code == 201
    before = snapshot()
    again = redeem(api, member, reward, **headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    # The cache lost the first answer: the voucher's own request key still finds it.
    cache.clear()
    third = redeem(api, member, reward, **headers)
    assert third.status_code == 200
    assert third.json() == first.json()
    assert snapshot() == before
    # The same key for other data is a conflict, with or without the cache.
    assert_error(redeem(api, member, other, **headers), 409, "idempotency_key_reused")
    cache.clear()
    assert_error(redeem(api, member, other, **headers), 409, "conflict")
    assert snapshot() == before
    assert Voucher.objects.count() == 1


def test_redemption_idempotency_keys_are_per_api_key(api, member):
    fund(member, 1000)
    reward = make_reward()
    headers = {"HTTP_IDEMPOTENCY_KEY": "same"}
    first = redeem(api, member, reward, **headers).json()
    _key, plain = api_key_create(name="erp")
    second = redeem(client_for(plain), member, reward, **headers)
    assert second.status_code == 201
    assert second.json()["voucher"]["code"] != first["voucher"]["code"]


def test_an_overlong_idempotency_key_is_refused(api, member):
    fund(member, 600)
    reward = make_reward()
    before = snapshot()
    response = redeem(api, member, reward, HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert_error(response, 400, field="Idempotency-Key")
    assert snapshot() == before


def test_not_enough_carats_is_a_409_and_changes_nothing(api, member):
    fund(member, 499)
    reward = make_reward(stock=1)
    before = snapshot()
    error = assert_error(redeem(api, member, reward), 409, "insufficient_carats")
    assert "500" in error["message"]
    assert snapshot() == before


def test_an_out_of_stock_reward_is_a_409(api, member, enroll):
    reward = make_reward(stock=1)
    first = enroll()
    fund(first, 500)
    assert redeem(api, first, reward).status_code == 201
    fund(member, 500)
    before = snapshot()
    assert_error(redeem(api, member, reward), 409, "out_of_stock")
    assert snapshot() == before


def test_the_per_member_limit(api, member):
    fund(member, 1000)
    reward = make_reward(per_member_limit=1)
    assert redeem(api, member, reward).status_code == 201
    before = snapshot()
    assert_error(redeem(api, member, reward), 400, "limit_reached")
    assert snapshot() == before


@pytest.mark.parametrize(
    "changes",
    [
        {"tiers": "ambassador"},
        {"active": False},
        {"ends_at": timezone.now() - timedelta(hours=1)},
        {"starts_at": timezone.now() + timedelta(days=1)},
        {"missing": True},
    ],
)
def test_unavailable_hidden_or_unknown_rewards_are_404(api, member, tiers, changes):
    fund(member, 1000)
    changes = dict(changes)
    hidden_tier, missing = changes.pop("tiers", None), changes.pop("missing", False)
    reward = make_reward(**changes)
    if hidden_tier:
        reward.tiers.set([tiers[hidden_tier]])
    if missing:
        reward.pk = Reward.objects.order_by("-pk").first().pk + 1000
    before = snapshot()
    error = assert_error(redeem(api, member, reward), 404, "unknown_reward")
    assert error["message"] == "This reward is not available."
    assert snapshot() == before


REWARD_ID = object()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reward": "abc"},
        {"reward": REWARD_ID, "as": "string"},
        {"reward": REWARD_ID, "as": "float"},
        {"reward": 1.5},
        {"reward": True},
        {"reward": None},
        {"reward": 0},
        {"reward": -1},
        {"reward": [REWARD_ID]},
        {"reward": REWARD_ID, "quantity": 2},
        [REWARD_ID],
    ],
)
def test_bad_redemption_input_is_a_400_and_changes_nothing(api, member, body):
    fund(member, 1000)
    reward = make_reward()
    if isinstance(body, list):
        body = [reward.pk]
    else:
        body = dict(body)
        kind = body.pop("as", None)
        if body.get("reward") is REWARD_ID:
            body["reward"] = {"string": str(reward.pk), "float": float(reward.pk)}.get(
                kind, reward.pk
            )
        elif body.get("reward") == [REWARD_ID]:
            body["reward"] = [reward.pk]
    before = snapshot()
    url = f"/api/v1/members/{member.member_number}/redemptions/"
    assert_error(api.post(url, body, format="json"), 400, "invalid")
    assert snapshot() == before


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_ten_members_racing_for_the_last_unit_get_one_voucher(enroll):
    members = [enroll(email=f"race{i}@example.com") for i in range(10)]
    for m in members:
        fund(m, 500)
    reward = make_reward(stock=1)
    _key, plain = api_key_create(name="web shop")

    def post(i):
        url = f"/api/v1/members/{members[i].member_number}/redemptions/"
        return client_for(plain).post(url, {"reward": reward.pk}, format="json")

    responses = run_in_threads(post, 10)
    errors = [r for r in responses if isinstance(r, Exception)]
    assert not errors, errors
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == 9, statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "out_of_stock"
    }
    reward.refresh_from_db()
    assert reward.issued_count == 1
    assert Voucher.objects.count() == 1
    balances = []
    for m in members:
        assert_balance_matches_ledger(m)
        balances.append(m.balance)
    assert sorted(balances) == [0] + [500] * 9


# --- A member's vouchers --------------------------------------------------------------------------


def test_a_members_vouchers_newest_first_with_a_status_filter(api, member, enroll):
    fund(member, 1000)
    reward = make_reward(cost_carats=100)
    codes = [new_voucher(api, member, reward) for _ in range(3)]
    assert use(api, codes[0]).status_code == 200
    other = enroll()
    fund(other, 100)
    new_voucher(api, other, reward)
    url = f"/api/v1/members/{member.member_number}/vouchers/"
    body = api.get(url).json()
    assert [v["code"] for v in body] == codes[::-1]
    assert set(body[0]) == {
        "code",
        "title",
        "kind",
        "value",
        "status",
        "issued_at",
        "valid_until",
        "used_at",
    }
    assert [v["code"] for v in api.get(url, {"status": "issued"}).json()] == codes[:0:-1]
    used = api.get(url, {"status": "used"}).json()
    assert [(v["code"], v["status"]) for v in used] == [(codes[0], "used")]
    assert used[0]["used_at"] is not None
    assert api.get(url, {"status": "cancelled"}).json() == []
    assert_error(api.get(url, {"status": "expired"}), 400, "invalid", field="status")


# --- Vouchers -------------------------------------------------------------------------------------


def test_a_till_checks_a_voucher_before_accepting_it(till, api, member):
    fund(member, 600)
    code = new_voucher(api, member, make_reward())
    response = till.get(f"/api/v1/vouchers/{code.lower()}/")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == code
    assert body["member"] == {
        "number": member.member_number,
        "first_name": "Ada",
        "last_name": "Lovelace",
    }
    assert (body["status"], body["usable"], body["used_where"]) == ("issued", True, "")
    assert body["cancelled_at"] is None
    Voucher.objects.filter(code=code).update(valid_until=timezone.now() - timedelta(minutes=1))
    body = till.get(f"/api/v1/vouchers/{code}/").json()
    assert (body["status"], body["usable"]) == ("issued", False)
    assert_error(till.get("/api/v1/vouchers/VNOPE-NOPE0/"), 404, "unknown_voucher")


def test_a_voucher_is_redeemed_once(api, member):
    fund(member, 600)
    code = new_voucher(api, member, make_reward())
    response = use(api, code.lower())
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["code"], body["status"], body["usable"]) == (code, "used", False)
    assert body["used_where"] == "api:web shop"
    assert when(body["used_at"]) <= timezone.now()
    before = snapshot()
    error = assert_error(use(api, code), 409, "voucher_used")
    assert "already used" in error["message"]
    assert snapshot() == before
    assert_balance_matches_ledger(member)


def test_a_retried_redeem_with_an_idempotency_key_gets_the_first_answer(till, api, member):
    fund(member, 600)
    code = new_voucher(api, member, make_reward())
    headers = {"HTTP_IDEMPOTENCY_KEY": "till-7-sale-991"}
    first = use(till, code, **headers)
    assert first.status_code == 200
    before = snapshot()
    again = use(till, code, **headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert snapshot() == before
    assert_error(use(till, code), 409, "voucher_used")


def test_a_till_redeems_vouchers_only_for_its_own_store(till, api, member, antwerp, london):
    fund(member, 1500)
    reward = make_reward()
    first, second, third = (new_voucher(api, member, reward) for _ in range(3))
    before = snapshot()
    error = assert_error(use(till, first, {"store": "london"}), 403, "store_not_allowed")
    assert "antwerp" in error["message"]
    assert_error(use(till, first, {"store": "nowhere"}), 403, "store_not_allowed")
    assert snapshot() == before
    assert use(till, first, {"store": "antwerp"}).json()["used_where"] == "antwerp"
    assert use(till, second).json()["used_where"] == "antwerp"  # its own store by default
    assert use(api, third, {"store": "london"}).json()["used_where"] == "london"


def test_expired_cancelled_and_unknown_vouchers_cannot_be_redeemed(api, member):
    fund(member, 1000)
    reward = make_reward()
    expired, cancelled = new_voucher(api, member, reward), new_voucher(api, member, reward)
    Voucher.objects.filter(code=expired).update(valid_until=timezone.now() - timedelta(seconds=1))
    assert cancel(api, cancelled).status_code == 200
    before = snapshot()
    assert_error(use(api, expired), 409, "voucher_expired")
    assert_error(use(api, cancelled), 409, "voucher_cancelled")
    assert_error(use(api, "VNOPE-NOPE0"), 404, "unknown_voucher")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"store": 12}, 400, "store"),
        ({"store": None}, 400, "store"),
        ({"store": ""}, 400, "store"),
        ({"store": "nowhere"}, 400, "store"),
        ({"store": "x" * 17}, 400, "store"),
        ({"where": "antwerp"}, 400, "where"),
    ],
)
def test_bad_redeem_input_is_a_4xx_and_changes_nothing(api, member, antwerp, body, status, field):
    fund(member, 600)
    code = new_voucher(api, member, make_reward())
    before = snapshot()
    assert_error(use(api, code, body), status, field=field)
    assert snapshot() == before


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_ten_tills_redeeming_one_voucher_accept_it_once(enroll, antwerp):
    member = enroll(email="once@example.com", first_name="Ada")
    fund(member, 500)
    _key, plain = api_key_create(name="antwerp till", store=antwerp)
    _key, web = api_key_create(name="web shop")
    code = new_voucher(client_for(web), member, make_reward())

    def post(i):
        return use(client_for(plain), code)

    responses = run_in_threads(post, 10)
    errors = [r for r in responses if isinstance(r, Exception)]
    assert not errors, errors
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, statuses
    assert statuses.count(409) == 9, statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "voucher_used"
    }
    assert Voucher.objects.get().status == "used"


# --- Voucher cancellation -------------------------------------------------------------------------


def test_the_web_shop_cancels_an_unused_voucher_and_the_carats_come_back(api, member):
    fund(member, 600)
    reward = make_reward(stock=1)
    code = new_voucher(api, member, reward)
    response = cancel(api, code)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["voucher"]["code"], body["voucher"]["status"]) == (code, "cancelled")
    assert body["voucher"]["usable"] is False
    assert body["voucher"]["cancelled_at"] is not None
    assert (body["carats_refunded"], body["balance"]) == (500, 600)
    reward.refresh_from_db()
    assert reward.issued_count == 0
    assert_balance_matches_ledger(member)
    before = snapshot()
    assert_error(cancel(api, code), 409, "voucher_not_cancellable")
    assert snapshot() == before


def test_a_used_or_unknown_voucher_cannot_be_cancelled(api, member):
    fund(member, 600)
    code = new_voucher(api, member, make_reward())
    use(api, code)
    before = snapshot()
    assert_error(cancel(api, code), 409, "voucher_not_cancellable")
    assert_error(cancel(api, "VNOPE-NOPE0"), 404, "unknown_voucher")
    assert snapshot() == before


def test_a_till_cannot_cancel_vouchers(till, api, member):
    fund(member, 600)
    code = new_voucher(api, member, make_reward())
    before = snapshot()
    error = assert_error(cancel(till, code), 403, "scope_not_allowed")
    assert "integration" in error["message"]
    assert_error(cancel(till, "VNOPE-NOPE0"), 403, "scope_not_allowed")
    assert snapshot() == before
    assert Voucher.objects.get().status == "issued"


def test_a_retried_cancel_with_an_idempotency_key_gets_the_first_answer(api, member):
    fund(member, 600)
    code = new_voucher(api, member, make_reward())
    first = cancel(api, code, HTTP_IDEMPOTENCY_KEY="refund-1")
    assert first.status_code == 200
    again = cancel(api, code, HTTP_IDEMPOTENCY_KEY="refund-1")
    assert (again.status_code, again.json()) == (200, first.json())
    assert LedgerEntry.objects.filter(member=member, carats=500, kind="redemption").count() == 1


# --- Clubs ----------------------------------------------------------------------------------------


def test_the_clubs_open_to_a_member_and_joining_one(api, member, tiers):
    fund(member, 2500)
    watch = make_club(perks="Private viewings\n\n Annual dinner ", description="Fine watches")
    pearl = make_club(name="Pearl Club", cost_carats=3000, duration_days=30)
    make_club(name="Ambassadors' Circle", cost_carats=100).tiers.set([tiers["ambassador"]])
    make_club(name="Closed Club", active=False)
    url = f"/api/v1/members/{member.member_number}/clubs/"
    response = api.get(url)
    assert response.status_code == 200
    assert response.json() == {
        "clubs": [
            {
                "id": watch.pk,
                "name": "Watch Club",
                "description": "Fine watches",
                "perks": ["Private viewings", "Annual dinner"],
                "cost_carats": 2000,
                "duration_days": 365,
                "affordable": True,
            },
            {
                "id": pearl.pk,
                "name": "Pearl Club",
                "description": "",
                "perks": [],
                "cost_carats": 3000,
                "duration_days": 30,
                "affordable": False,
            },
        ],
        "memberships": [],
    }
    joined = join(api, member, watch)
    assert joined.status_code == 201, joined.content
    body = joined.json()
    assert body["club"] == {"id": watch.pk, "name": "Watch Club"}
    assert (body["carats_paid"], body["balance"]) == (2000, 500)
    assert when(body["ends_at"]) - when(body["started_at"]) == timedelta(days=365)
    listing = api.get(url).json()
    assert listing["memberships"] == [
        {"club": body["club"], "started_at": body["started_at"], "ends_at": body["ends_at"]}
    ]
    assert [c["affordable"] for c in listing["clubs"]] == [False, False]
    assert_balance_matches_ledger(member)


def test_a_renewal_starts_when_the_current_period_ends(api, member):
    fund(member, 4000)
    club = make_club()
    first = join(api, member, club).json()
    second = join(api, member, club)
    assert second.status_code == 201
    assert second.json()["started_at"] == first["ends_at"]
    assert second.json()["balance"] == 0
    url = f"/api/v1/members/{member.member_number}/clubs/"
    assert len(api.get(url).json()["memberships"]) == 2


def test_joining_a_club_with_an_idempotency_key_pays_once(api, member):
    fund(member, 4000)
    club = make_club()
    headers = {"HTTP_IDEMPOTENCY_KEY": "club-order-1"}
    first = join(api, member, club, **headers)
    assert first.status_code == 201
    before = snapshot()
    again = join(api, member, club, **headers)
    assert (again.status_code, again.json()) == (200, first.json())
    assert snapshot() == before
    assert ClubMembership.objects.count() == 1


def test_joining_without_enough_carats_is_a_409(api, member):
    fund(member, 1999)
    club = make_club()
    before = snapshot()
    assert_error(join(api, member, club), 409, "insufficient_carats")
    assert snapshot() == before


@pytest.mark.parametrize("case", ["hidden", "inactive", "unknown"])
def test_closed_hidden_or_unknown_clubs_are_404(api, member, tiers, case):
    fund(member, 5000)
    club = make_club(active=case != "inactive")
    if case == "hidden":
        club.tiers.set([tiers["ambassador"]])
    if case == "unknown":
        club.pk += 1000
    before = snapshot()
    assert_error(join(api, member, club), 404, "unknown_club")
    assert snapshot() == before


@pytest.mark.parametrize(
    "body",
    [{}, {"club": "x"}, {"club": "1"}, {"club": 1.5}, {"club": None}, {"club": 1, "plan": "gold"}],
)
def test_bad_club_input_is_a_400_and_changes_nothing(api, member, body):
    fund(member, 5000)
    make_club()
    before = snapshot()
    url = f"/api/v1/members/{member.member_number}/clubs/"
    assert_error(api.post(url, body, format="json"), 400, "invalid")
    assert snapshot() == before


# --- Pending carats on the member -------------------------------------------------------------------


def test_pending_and_held_carats_show_on_the_member(api, member, antwerp, enroll):
    Program.objects.filter(pk=1).update(pending_days=30)
    assert buy(api, member, amount="100.00").json()["carats_status"] == "pending"
    now = timezone.now()
    for carats, status in ((7, "held"), (1000, "released"), (50, "cancelled"), (20, "rejected")):
        HeldCarats.objects.create(
            member=member,
            carats=carats,
            reason="test",
            key=f"test:{status}",
            occurred_at=now,
            status=status,
        )
    other = enroll()
    HeldCarats.objects.create(
        member=other, carats=9, reason="x", key="other", occurred_at=now, status="pending"
    )
    assert pending_carats_for(member) == 107
    lookup = api.get("/api/v1/members/lookup/", {"code": member.qr_payload}).json()
    assert (lookup["balance"], lookup["pending_carats"]) == (0, 107)
    detail = api.get(f"/api/v1/members/{member.member_number}/").json()
    assert (detail["balance"], detail["pending_carats"]) == (0, 107)
    assert api.get(f"/api/v1/members/{other.member_number}/").json()["pending_carats"] == 9


# --- Coverage of the schema ---------------------------------------------------------------------


def test_every_documented_operation_was_exercised(request):
    """Runs last: every operation listed for this module answered a test successfully."""
    assert_operations_exercised(request, sys.modules[__name__])
