"""An erased member is closed: no earning, spending, lookups, referrals or mails; the balance
is written off with a ledger line and the erasure is attributable (who, when, why)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from campaigns.models import ActionRule, Club, HeldCarats, MessageLog, Reward, Voucher
from campaigns.services import (
    action_record,
    club_join,
    member_enroll,
    reward_redeem,
    voucher_use,
)
from campaigns.services.earning import carats_hold, held_release, pending_release_due
from campaigns.services.rewards import voucher_issue_gift
from loyalty.kernel.errors import DomainError, NotFound
from members.models import ErasureRecord, LedgerEntry, Member
from members.selectors import ledger_mismatches, member_by_referral_code
from members.services import ledger_post, member_erase
from pos.imports import history_import
from pos.models import Purchase
from pos.services import api_key_create, purchase_record
from tests.factories import UserFactory
from tests.helpers import assert_balance_matches_ledger, run_in_threads
from tests.test_api import client_for


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Idempotency records live in the cache."""


@pytest.fixture
def api(db):
    _key, plain = api_key_create(name="web shop")
    return client_for(plain)


@pytest.fixture
def till(client, antwerp, program):
    assistant = UserFactory(email="sam@carat.example")
    antwerp.staff.add(assistant)
    client.force_login(assistant)
    return client


@pytest.fixture
def erased(program, antwerp):
    """A member with carats, an external id, a voucher and pending carats, then erased from
    the console. Returns (member after erasure, identifiers they had and have)."""
    member = member_enroll(
        email="ada@example.com", first_name="Ada", external_id="SHOP-7", email_opt_in=True
    )
    ActionRule.objects.create(
        action="review", carats=50, name="Review", starts_at=timezone.now() - timedelta(days=1)
    )
    purchase_record(
        member=member,
        channel="store",
        store=antwerp,
        receipt_id="BEFORE",
        amount="400.00",
        currency="EUR",
    )
    ledger_post(member=member, carats=1000, kind="bonus", reason="gift", key="gift")
    reward = Reward.objects.create(
        name="EUR 25", kind="amount", cost_carats=500, value=Decimal("25"),
        starts_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    voucher = reward_redeem(member=member, reward=reward).voucher
    carats_hold(
        member=member,
        carats=70,
        reason="pending",
        key="held:1",
        occurred_at=timezone.now(),
        status=HeldCarats.Status.PENDING,
        release_at=timezone.now() - timedelta(minutes=1),
    )
    Club.objects.create(name="Watch Club", cost_carats=100)
    member.refresh_from_db()
    before = {
        "number": member.member_number,
        "qr_before": member.qr_payload,
        "external_id": "SHOP-7",
        "email": "ada@example.com",
        "referral_code": member.referral_code,
        "voucher": voucher.code,
        "balance": member.balance,
    }
    dpo = UserFactory(email="dpo@carat.example", is_staff=True)
    member_erase(member=member, source="console", actor=dpo, reason="Letter of 2026-11-20")
    member.refresh_from_db()
    before["qr_after"] = member.qr_payload
    before["erased_email"] = member.email
    return member, before


def codes_of(ids):
    """Everything a till, page or client could use to name the erased member."""
    return [
        ids["number"],
        ids["qr_before"],
        ids["qr_after"],
        ids["external_id"],
        ids["email"],
        ids["erased_email"],
    ]


def snapshot(member):
    member.refresh_from_db()
    return (
        member.balance,
        LedgerEntry.objects.filter(member=member).count(),
        Purchase.objects.filter(member=member).count(),
        Voucher.objects.filter(member=member).count(),
        member.club_memberships.count(),
        member.awards.count(),
        Member.objects.filter(referred_by=member).count(),
        MessageLog.objects.filter(member=member).count(),
    )


def test_erasure_writes_the_balance_off_with_a_ledger_line_and_records_who_and_why(erased):
    member, ids = erased
    assert ids["balance"] > 0
    assert member.balance == 0
    assert_balance_matches_ledger(member)
    write_off = LedgerEntry.objects.get(member=member, key=f"erasure:{member.pk}")
    assert (write_off.kind, write_off.carats) == ("adjustment", -ids["balance"])
    assert write_off.actor.email == "dpo@carat.example"
    record = ErasureRecord.objects.get(member=member)
    assert (record.source, record.reason, record.actor_email, record.carats_written_off) == (
        "console",
        "Letter of 2026-11-20",
        "dpo@carat.example",
        ids["balance"],
    )
    assert record.member_number == ids["number"] and record.erased_at == member.erased_at
    # the record names no one but the staff user: no personal data of the member
    assert "Ada" not in str(record.__dict__) and "ada@" not in str(record.__dict__)
    call_command("verify_ledger")
    assert not ledger_mismatches().exists()


def test_staff_must_say_why_they_erase(member):
    staff = UserFactory(email="dpo@carat.example", is_staff=True)
    with pytest.raises(DomainError, match="why"):
        member_erase(member=member, source="console", actor=staff, reason="  ")
    member.refresh_from_db()
    assert member.erased_at is None and not ErasureRecord.objects.exists()


def test_a_member_erasing_their_own_account_is_recorded_too(member):
    member_erase(member=member, source="member")
    record = ErasureRecord.objects.get(member=member)
    assert record.source == "member" and record.actor is None and record.reason


@pytest.mark.postgresql
def test_every_earning_and_spending_path_refuses_an_erased_member(
    erased, api, till, tmp_path, sale_path
):
    member, ids = erased
    reward = Reward.objects.get()
    club = Club.objects.get()
    state = snapshot(member)
    refused = []

    def expect_4xx(what, response):
        assert 400 <= response.status_code < 500, (what, response.status_code, response.content)
        refused.append(what)

    for n, code in enumerate(codes_of(ids)):
        # API: lookups, sale, event
        expect_4xx(f"lookup {code}", api.get("/api/v1/members/lookup/", {"code": code}))
        expect_4xx(f"detail {code}", api.get(f"/api/v1/members/{code}/"))
        expect_4xx(f"by external id {code}", api.get(f"/api/v1/members/by-external-id/{code}/"))
        sale = {
            "member": code,
            "store": "antwerp",
            "receipt_id": f"AFTER-{n}",
            "amount": "400.00",
            "currency": "EUR",
        }
        response = api.post("/api/v1/purchases/", sale, format="json")
        expect_4xx(f"API sale {code}", response)
        body = {"member": code, "type": "review", "reference": f"RING-{n}"}
        expect_4xx(f"event {code}", api.post("/api/v1/events/", body, format="json"))
        base = f"/api/v1/members/{code}"
        expect_4xx(
            f"redeem {code}",
            api.post(f"{base}/redemptions/", {"reward": reward.pk}, format="json"),
        )
        expect_4xx(f"club {code}", api.post(f"{base}/clubs/", {"club": club.pk}, format="json"))
        # the POS page: scan, member page, sale
        expect_4xx(f"scan {code}", till.post(reverse("pos:scan"), {"code": code}))
        page = reverse("pos:sale", args=[code])
        data = {"store": "antwerp", "receipt_id": f"PAGE-{n}", "amount": "90", "currency": "EUR"}
        expect_4xx(f"POS sale {code}", till.post(page, data))
        # the service, given the code (as a till's request would)
        with pytest.raises(NotFound):
            purchase_record(
                member_code=code,
                channel="store",
                store=_store(),
                receipt_id=f"SVC-{n}",
                amount="10",
                currency="EUR",
            )
    assert response.json()["error"]["code"] in ("unknown_member", "invalid")
    # the services, given the Member itself (a stale object in a job, a console action)
    with pytest.raises(NotFound):
        purchase_record(
            member=member,
            channel="store",
            store=_store(),
            receipt_id="OBJ",
            amount="10",
            currency="EUR",
        )
    for call in (
        lambda: action_record(member=member, action="review", reference="OBJ"),
        lambda: reward_redeem(member=member, reward=reward),
        lambda: club_join(member=member, club=club),
        lambda: ledger_post(member=member, carats=5, kind="bonus", reason="x", key="after:1"),
        lambda: ledger_post(member=member, carats=-1, kind="bonus", reason="x", key="after:2"),
        lambda: voucher_issue_gift(member=member, reward=reward, source="giveaway"),
    ):
        with pytest.raises(NotFound):
            call()
    # a voucher bought before the erasure is worth nothing now
    with pytest.raises(NotFound):
        voucher_use(code=ids["voucher"])
    expect_4xx("voucher API", api.post(f"/api/v1/vouchers/{ids['voucher']}/redeem/", {}))
    # pending carats are never credited: the job cancels them
    pending_release_due()
    held = HeldCarats.objects.get(member=member)
    assert held.status == HeldCarats.Status.CANCELLED
    assert held_release(held=held) is False
    # the referral code links nobody
    assert member_by_referral_code(ids["referral_code"]) is None
    friend = member_enroll(email="friend@example.com", referral_code=ids["referral_code"])
    assert friend.referred_by_id is None
    # the history import: the erased account's address and id are not credited
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "order_id,email,phone,external_id,occurred_at,store,amount,currency\n"
        f"IMP-1,{ids['erased_email']},,,2026-01-05,antwerp,100.00,EUR\n"
        f"IMP-2,,,{ids['external_id']},2026-01-05,antwerp,100.00,EUR\n",
        encoding="utf-8",
    )
    report = history_import(path_or_file=csv, dry_run=False)
    assert any("erased" in r.reason for r in report.rejections)
    assert snapshot(member) == state
    assert_balance_matches_ledger(member)
    call_command("verify_ledger")
    assert len(refused) == 9 * len(codes_of(ids)) + 1


def _store():
    from pos.models import Store

    return Store.objects.get(code="antwerp")


def test_an_erased_member_is_mailed_nothing(erased):
    from campaigns.services import messages_dispatch
    from campaigns.services.messaging import message_claim

    member, _ids = erased
    log = message_claim(member=member, trigger="carats_expiring", occasion="expiry:x:1")
    messages_dispatch()
    log.refresh_from_db()
    assert log.status == MessageLog.Status.CANCELLED


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_sales_racing_an_erasure_leave_nothing_on_the_closed_account(program, antwerp, sale_path):
    """Tills selling while the member is erased: every sale either committed before the
    erasure (and its carats were written off) or finds no member. The check is in the
    sale's row lock, which the erasure takes too."""
    member = member_enroll(email="race@example.com")
    dpo = UserFactory(email="dpo@carat.example", is_staff=True)

    def act(i):
        if i == 0:
            return member_erase(member=member, source="console", actor=dpo, reason="race")
        return purchase_record(
            member_code=member.member_number,
            channel="store",
            store=_store(),
            receipt_id=f"RACE-{i}",
            amount="100.00",
            currency="EUR",
        )

    results = run_in_threads(act, 8)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, NotFound)]
    assert not unexpected
    member.refresh_from_db()
    assert member.erased_at is not None
    assert member.balance == 0
    assert_balance_matches_ledger(member)
    sold = Purchase.objects.filter(member=member).count()
    assert sold == sum(1 for r in results[1:] if not isinstance(r, Exception))


def test_the_erasure_blanks_the_personal_data_other_tables_hold(program):
    """Mails' texts, staff notes, webhook payloads: the history stays, anonymised."""
    from campaigns.models import Giveaway
    from loyalty.console.privacy import member_erase_all
    from loyalty.kernel import config
    from loyalty.kernel.models import WebhookEndpoint, WebhookEvent

    WebhookEndpoint.objects.create(name="ERP", url="https://erp.example/hook", secret="s")
    config.clear()
    member = member_enroll(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    MessageLog.objects.create(
        member=member,
        trigger="welcome",
        occasion="welcome",
        due_at=timezone.now(),
        subject="Welcome, Ada",
        body="Hello Ada Lovelace",
        status="sent",
    )
    Giveaway.objects.create(
        member=member, title="Spring", hosted_on=timezone.localdate(), free_piece="Pearl",
        notes="Ada's sister came too",
    )  # fmt: skip
    carats_hold(
        member=member,
        carats=40,
        reason="held",
        key="held:2",
        occurred_at=timezone.now(),
        status=HeldCarats.Status.HELD,
    )
    dpo = UserFactory(email="dpo@carat.example", is_staff=True)
    member_erase_all(member=member, source="console", actor=dpo, reason="Letter")
    log = MessageLog.objects.get(member=member)
    assert (log.subject, log.body, log.status) == ("", "", "sent")
    assert Giveaway.objects.get(member=member).notes == ""
    assert HeldCarats.objects.get(member=member).status == HeldCarats.Status.CANCELLED
    payloads = str(list(WebhookEvent.objects.filter(member_id=member.pk).values_list("data")))
    assert "ada@example.com" not in payloads and "Lovelace" not in payloads
    assert WebhookEvent.objects.filter(member_id=member.pk, type="member.erased").exists()
    config.clear()
