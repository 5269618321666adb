"""The till's hot paths: a sale and a scan in few round trips, the API key read once per
process and minute window, and the numbers the same as the general code computes."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import HeldCarats
from campaigns.services import member_enroll
from loyalty.kernel import config
from members.models import LedgerEntry
from members.services import ledger_post
from pos import api_auth
from pos.api_auth import ApiKeyRateThrottle
from pos.models import ApiKey
from pos.selectors import member_card, member_card_by_code
from pos.services import api_key_create, purchase_record
from tests.helpers import run_in_threads
from tiers.models import MemberTier, TierChange
from tiers.selectors import member_tier


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    config.clear()
    api_auth._valid_keys.clear()
    yield
    cache.clear()
    config.clear()
    api_auth._valid_keys.clear()


def client_for(plain):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


def _sale(member, store, receipt, amount="100.00"):
    return purchase_record(
        member=member,
        channel="store",
        store=store,
        receipt_id=receipt,
        amount=amount,
        currency="EUR",
    )


def _statements(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]


@pytest.mark.postgresql
def test_a_common_sale_is_two_round_trips(member, antwerp, settings):
    settings.CARAT_CONFIG_CACHE_SECONDS = 60  # the program's configuration as in production
    _sale(member, antwerp, "WARM", "10.00")  # fills the configuration cache
    with CaptureQueriesContext(connection) as ctx:
        result = _sale(member, antwerp, "R-2", "120.00")
    assert result.carats_awarded == 120
    statements = _statements(ctx)
    # The lock and the read go in one pipeline (recorded as one), the write in one more.
    assert len(statements) == 2, statements
    assert "FOR UPDATE" in statements[0] and "SELECT m.purchase_count" in statements[0]
    assert "INSERT INTO pos_purchase" in statements[1]
    entry = LedgerEntry.objects.get(key=f"purchase:{result.purchase.pk}")
    assert entry.carats == 120 and entry.balance_after == result.balance
    member.refresh_from_db()
    assert member.purchase_count == 2 and member.balance == result.balance


@pytest.mark.postgresql
def test_an_upgrading_sale_sends_the_upgrade_and_its_mail_with_the_write(
    member, antwerp, tiers, settings
):
    from campaigns.models import MessageLog, TriggerConfig

    TriggerConfig.objects.create(trigger="tier_upgraded", subject_en="Welcome", body_en="x")
    settings.CARAT_CONFIG_CACHE_SECONDS = 60
    other = member_enroll(email="grace@example.com", first_name="Grace", last_name="Hopper")
    _sale(other, antwerp, "WARM", "600.00")  # an upgrade fills the configuration cache
    with CaptureQueriesContext(connection) as ctx:
        result = _sale(member, antwerp, "UP", "600.00")
    assert result.tier.code == "marquise" and result.tier_changed
    statements = _statements(ctx)
    # Still two round trips: the write's pipeline holds the upgrade and the mail.
    assert len(statements) == 2, statements
    assert "INSERT INTO pos_purchase" in statements[1]
    assert "UPDATE tiers_membertier" in statements[1]
    assert "campaigns_messagelog" in statements[1]
    status = MemberTier.objects.get(member=member)
    assert status.tier.code == "marquise" and status.reached_at == result.purchase.created_at
    change = TierChange.objects.get(member=member, reason="upgrade")
    assert change.to_tier.code == "marquise"
    mail = MessageLog.objects.get(member=member, trigger="tier_upgraded")
    assert mail.occasion.startswith("tier:marquise:") and mail.status == "scheduled"


@pytest.mark.postgresql
def test_a_first_purchase_sends_its_challenge_enrolments_with_the_write(member, antwerp, settings):
    from campaigns.models import Challenge, ChallengeEnrolment

    settings.CARAT_CONFIG_CACHE_SECONDS = 60
    started = timezone.now() - timedelta(days=1)
    for name in ("Second sparkle", "Second glow"):
        Challenge.objects.create(
            name=name,
            goal="second_purchase",
            enrolment="first_purchase",
            window_days=90,
            starts_at=started,
        )
    other = member_enroll(email="grace@example.com", first_name="Grace", last_name="Hopper")
    _sale(other, antwerp, "WARM")  # fills the configuration cache, challenges included
    with CaptureQueriesContext(connection) as ctx:
        result = _sale(member, antwerp, "FIRST", "80.00")
    assert result.carats_awarded == 80
    statements = _statements(ctx)
    # Still two round trips: the write's pipeline holds both enrolments.
    assert len(statements) == 2, statements
    assert "INSERT INTO pos_purchase" in statements[1]
    assert statements[1].count("campaigns_challengeenrolment") == 2
    enrolments = ChallengeEnrolment.objects.filter(member=member)
    assert sorted(e.challenge.name for e in enrolments) == ["Second glow", "Second sparkle"]
    assert {(e.status, e.baseline["channel"], e.progress) for e in enrolments} == {
        ("active", "store", 0)
    }
    # The second purchase completes both (the first one started them, it did not count).
    second = _sale(member, antwerp, "SECOND", "10.00")
    assert "Second sparkle completed" in second.purchase.earning_reason
    assert ChallengeEnrolment.objects.filter(member=member, status="completed").count() == 2


@pytest.mark.postgresql
def test_an_upgrade_the_nightly_job_made_meanwhile_sends_no_mail_with_the_write(
    member, antwerp, tiers, monkeypatch
):
    from campaigns.models import MessageLog, TriggerConfig
    from pos.services import sales as services

    TriggerConfig.objects.create(trigger="tier_upgraded", subject_en="Welcome", body_en="x")
    real = services.tier_upgrade_statement
    earlier = timezone.now() - timedelta(hours=1)

    def job_moves_first(**kw):
        # The nightly job moved the status to the same tier between the sale's read and
        # its write (it writes without the member's row lock).
        MemberTier.objects.filter(member=member).update(tier=kw["target"], reached_at=earlier)
        return real(**kw)

    monkeypatch.setattr(services, "tier_upgrade_statement", job_moves_first)
    result = _sale(member, antwerp, "UP", "600.00")
    assert result.tier.code == "marquise" and not result.tier_changed
    assert MemberTier.objects.get(member=member).reached_at == earlier
    assert not TierChange.objects.filter(member=member, reason="upgrade").exists()
    assert not MessageLog.objects.filter(member=member, trigger="tier_upgraded").exists()


def test_the_sales_upgrade_counts_its_own_carats_and_is_written_once(member, antwerp, tiers):
    _sale(member, antwerp, "A", "450.00")
    assert member_tier(member).code == "radiant"
    result = _sale(member, antwerp, "B", "60.00")  # 510 qualifying: Marquise at 500
    assert result.tier_changed and result.tier.code == "marquise"
    assert result.purchase.tier_after == "marquise"
    result.purchase.refresh_from_db()
    assert result.purchase.tier_after == "marquise" and result.purchase.tier_changed
    status = MemberTier.objects.get(member=member)
    assert status.tier.code == "marquise"


def test_a_back_dated_sale_outside_the_window_does_not_upgrade(member, antwerp, tiers):
    old = timezone.now() - timedelta(days=400)
    purchase_record(
        member=member,
        channel="store",
        store=antwerp,
        receipt_id="OLD",
        amount="900.00",
        currency="EUR",
        occurred_at=old,
    )
    assert member_tier(member).code == "radiant"


@pytest.mark.postgresql
@pytest.mark.usefixtures("sale_path")
def test_the_scan_is_one_query_and_agrees_with_the_general_card(member, antwerp, tiers, settings):
    settings.CARAT_CONFIG_CACHE_SECONDS = 60  # tiers from the configuration cache
    _sale(member, antwerp, "A", "300.00")
    member_card_by_code(member.qr_payload)  # fills it
    HeldCarats.objects.create(
        member=member,
        carats=40,
        reason="pending",
        key="k1",
        occurred_at=timezone.now(),
        status=HeldCarats.Status.PENDING,
    )
    HeldCarats.objects.create(
        member=member,
        carats=7,
        reason="done",
        key="k2",
        occurred_at=timezone.now(),
        status=HeldCarats.Status.RELEASED,
    )
    with CaptureQueriesContext(connection) as ctx:
        card = member_card_by_code(member.qr_payload)
    assert len(ctx.captured_queries) == 1
    general = member_card(member, with_progress=True)
    assert card.member.pk == member.pk and card.tier == general.tier
    assert card.progress == general.progress
    assert card.progress.qualifying == 300 and card.pending_carats == 40
    assert member_card_by_code(member.member_number).member.pk == member.pk


def test_the_api_key_is_read_once_while_cached_and_revocation_takes_effect(
    db, member, settings, monkeypatch
):
    settings.CARAT_CONFIG_CACHE_SECONDS = 5
    key, plain = api_key_create(name="till")
    client = client_for(plain)
    assert client.get("/api/v1/members/lookup/", {"code": member.qr_payload}).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/members/lookup/", {"code": member.qr_payload}).status_code == 200
    assert not [q for q in ctx.captured_queries if "pos_apikey" in q["sql"]]
    ApiKey.objects.filter(pk=key.pk).update(active=False)
    clock = api_auth.time.monotonic() + 6  # the cache time has passed
    monkeypatch.setattr(api_auth.time, "monotonic", lambda: clock)
    response = client.get("/api/v1/members/lookup/", {"code": member.qr_payload})
    assert response.status_code == 401
    wrong = client_for(plain[:-2] + "xx")
    assert wrong.get("/api/v1/members/lookup/", {"code": member.qr_payload}).status_code == 401
    assert len(api_auth._valid_keys) == 0


def test_the_rate_limit_counts_per_key_and_window(db, member, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    _k, plain = api_key_create(name="till")
    _k2, other = api_key_create(name="web shop")
    now = 1_800_000_000.0 + 10  # 10 s into a minute window
    monkeypatch.setattr(api_auth.time, "time", lambda: now)
    client = client_for(plain)
    codes = [client.get("/api/v1/tiers/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get("/api/v1/tiers/")
    assert int(refused["Retry-After"]) == 50
    assert client_for(other).get("/api/v1/tiers/").status_code == 200  # its own counter
    now += 60  # the next window
    assert client.get("/api/v1/tiers/").status_code == 200


def test_a_replayed_receipt_changes_nothing_although_it_reaches_the_write(member, antwerp):
    first = _sale(member, antwerp, "R-1", "80.00")
    ledger_post(member=member, carats=5, kind="bonus", reason="x", key="bonus:1")
    member.refresh_from_db()
    before = (member.balance, member.purchase_count, member.lifetime_spend_eur)
    again = _sale(member, antwerp, "R-1", "80.00")
    assert not again.created and again.purchase.pk == first.purchase.pk
    member.refresh_from_db()
    assert (member.balance, member.purchase_count, member.lifetime_spend_eur) == before
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1


def _redis_cache():
    from django.core.cache.backends.redis import RedisCache

    redis_cache = RedisCache(
        "redis://127.0.0.1:6379/5", {"KEY_PREFIX": f"carat-test-{timezone.now().timestamp()}"}
    )
    try:
        redis_cache._cache.get_client(write=True).ping()
    except Exception:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return redis_cache


def test_the_rate_counter_on_redis_is_one_shared_counter_per_window(db):
    redis_cache = _redis_cache()
    client = redis_cache._cache.get_client(write=True)
    key = "throttle_test"
    counts = [api_auth._count(redis_cache, key, 61, n) for n in (1, 1, 1, 5)]
    assert counts == [1, 2, 3, 8]  # a lease adds its size in the same round trip
    full = redis_cache.make_and_validate_key(key)
    assert 0 < client.ttl(full) <= 61
    assert redis_cache.get(key) == 8  # the same counter through Django's cache API
    client.delete(full)


def test_the_api_throttle_counts_in_redis_when_the_cache_is_redis(db, settings, monkeypatch):
    from django.core.cache import cache as default_cache

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/5",
            "KEY_PREFIX": f"carat-test-{timezone.now().timestamp()}",
        }
    }
    backend = api_auth._backend(default_cache)
    try:
        backend._cache.get_client(write=True).ping()
    except Exception:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    calls = []
    real = api_auth._count
    monkeypatch.setattr(api_auth, "_count", lambda c, *a: calls.append(type(c)) or real(c, *a))
    _k, plain = api_key_create(name="till")
    client = client_for(plain)
    codes = [client.get("/api/v1/tiers/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert set(calls) == {type(backend)} and type(backend).__name__ == "RedisCache"
    backend.clear()


def test_processes_count_in_leases_and_together_admit_exactly_the_limit(db, monkeypatch):
    # Three web processes (three lease books) share one counter in the cache.
    processes = [api_auth._Leases() for _ in range(3)]
    calls = []
    real = api_auth._count
    monkeypatch.setattr(api_auth, "_count", lambda *a: calls.append(a) or real(*a))
    admitted = 0
    for n in range(300):
        calls_before = len(calls)
        admitted += processes[n % 3].take(cache, "rate:lease-test", 200, 61)
        assert len(calls) - calls_before <= 1
    assert admitted == 200  # never more than the limit, and nothing leased was lost
    assert cache.get("rate:lease-test") >= 200
    # Far from the limit a lease is LEASE_MAX requests, near it one: few round trips.
    assert len(calls) < 100
    assert {a[3] for a in calls} >= {1, 200 // api_auth.LEASE_SHARE}


def test_a_key_far_below_its_limit_costs_one_round_trip_per_lease(db, monkeypatch):
    book = api_auth._Leases()
    calls = []
    real = api_auth._count
    monkeypatch.setattr(api_auth, "_count", lambda *a: calls.append(a) or real(*a))
    assert all(book.take(cache, "rate:far", 1_000_000, 61) for _ in range(320))
    assert len(calls) == 320 // api_auth.LEASE_MAX
    assert cache.get("rate:far") == 320


def test_the_lease_book_of_a_process_stays_bounded(db):
    book = api_auth._Leases()
    for window in range(10_050):  # a long-running process: a new window every minute
        assert book.take(cache, f"rate:bounded:{window}", 20, 61)  # leases of one
    assert len(book.seen) <= 10_001 and len(book.left) <= 10_001


def test_leases_taken_in_parallel_on_redis_never_admit_more_than_the_limit(db):
    redis_cache = _redis_cache()
    # Eight processes at once, each with its own lease book, and one gthread-style
    # process whose four threads share a book, each asking until refused (a process
    # that stops earlier leaves its unused lease unused): 12 x 300 attempts, limit 300.
    shared = api_auth._Leases()
    books = [api_auth._Leases() for _ in range(8)] + [shared] * 4

    def attempts(i):
        return sum(books[i].take(redis_cache, "rate:parallel", 300, 61) for _ in range(300))

    results = run_in_threads(attempts, 12)
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 300  # not one more than the limit, and none leased lost
    assert redis_cache.get("rate:parallel") >= 300
    redis_cache.clear()


def test_the_api_answers_429_once_the_leases_of_the_window_are_spent(db, settings, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "40/min"})
    monkeypatch.setattr(
        api_auth, "time", SimpleNamespace(time=lambda: 1_800_000_030.0, monotonic=time.monotonic)
    )
    _k, plain = api_key_create(name="till")
    client = client_for(plain)
    codes = [client.get("/api/v1/tiers/").status_code for _ in range(45)]
    assert codes == [200] * 40 + [429] * 5


def test_the_written_out_bodies_equal_the_declared_fields(member, antwerp, tiers):
    from rest_framework import serializers

    from pos.serializers import MemberSummarySerializer, PurchaseResultSerializer

    def both(serializer_class, instance):
        fast = serializer_class(instance).data
        declared = serializers.Serializer.to_representation(serializer_class(), instance)
        assert fast == declared
        return fast

    first = both(PurchaseResultSerializer, _sale(member, antwerp, "A", "450.00"))
    card = both(MemberSummarySerializer, member_card_by_code(member.qr_payload))
    assert not first["tier_changed"] and card["progress"]["next_tier"]["code"] == "marquise"
    upgraded = both(PurchaseResultSerializer, _sale(member, antwerp, "B", "1100.55"))
    card = both(MemberSummarySerializer, member_card_by_code(member.qr_payload))
    assert upgraded["tier_changed"] and card["progress"]["next_tier"] is None


def _prepared() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cur.fetchall()]


@pytest.mark.postgresql
def test_the_sales_statements_are_prepared_once_per_connection(member, antwerp, settings):
    settings.CARAT_CONFIG_CACHE_SECONDS = 60
    for n in range(3):
        _sale(member, antwerp, f"P-{n}", "10.00")
    prepared = _prepared()
    assert sum("FOR UPDATE" in s and "members_member" in s for s in prepared) == 1, prepared
    assert sum("INSERT INTO pos_purchase" in s for s in prepared) == 1, prepared
    member.refresh_from_db()
    assert member.purchase_count == 3


@pytest.mark.postgresql
def test_without_prepared_statements_a_sale_is_the_same(member, antwerp, settings):
    """DATABASE_PREPARED_STATEMENTS=false (a pooler in transaction mode) leaves psycopg's
    prepare threshold unset: the same statements, planned each time."""
    connection.ensure_connection()
    raw = connection.connection
    before = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        with connection.cursor() as cur:
            cur.execute("DEALLOCATE ALL")
        result = _sale(member, antwerp, "NP-1", "120.00")
        assert _prepared() == []
    finally:
        raw.prepare_threshold = before
    assert result.carats_awarded == 120
    assert LedgerEntry.objects.get(key=f"purchase:{result.purchase.pk}").carats == 120


@pytest.mark.postgresql
def test_a_sale_by_the_scanned_code_finds_the_member_under_its_lock(
    member, antwerp, settings, sale_path
):
    """The API passes the till's code: the sale's first round trip locks the member by it,
    so there is no lookup before the sale; unknown codes write nothing; replays by code
    return the first result."""
    from loyalty.kernel.errors import NotFound
    from pos.models import Purchase

    settings.CARAT_CONFIG_CACHE_SECONDS = 60
    _sale(member, antwerp, "WARM", "10.00")
    with CaptureQueriesContext(connection) as ctx:
        result = purchase_record(
            member_code=member.qr_payload,
            channel="store",
            store=antwerp,
            receipt_id="C-1",
            amount="120.00",
            currency="EUR",
        )
    assert result.created and result.purchase.member_id == member.pk
    assert result.carats_awarded == 120
    if sale_path == "sql":  # lock-by-code + read in one pipeline, then the write
        statements = _statements(ctx)
        assert len(statements) == 2 and "qr_token" in statements[0], statements
    again = purchase_record(
        member_code=member.member_number,
        channel="store",
        store=antwerp,
        receipt_id="C-1",
        amount="120.00",
        currency="EUR",
    )
    assert not again.created and again.purchase.pk == result.purchase.pk
    member.refresh_from_db()
    assert member.balance == result.balance and member.purchase_count == 2
    with pytest.raises(NotFound):
        purchase_record(
            member_code="CARAT1:" + "x" * 22,
            channel="store",
            store=antwerp,
            receipt_id="C-2",
            amount="50.00",
            currency="EUR",
        )
    assert not Purchase.objects.filter(receipt_id="C-2").exists()
