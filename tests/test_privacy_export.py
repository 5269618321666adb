"""The GDPR export (right of access) holds everything Carat keeps about the member: every
model with a foreign-key path to the member is in it, so a new one cannot be forgotten."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.utils import timezone

from campaigns.models import (
    ActionRule,
    Badge,
    BirthdayGift,
    Challenge,
    ChallengeEnrolment,
    Club,
    Giveaway,
    MessageLog,
    Rental,
    Reward,
)
from campaigns.services import (
    action_record,
    club_join,
    member_enroll,
    reward_redeem,
)
from campaigns.services.earning import carats_hold
from loyalty.console.privacy import EXCLUDED, SECTIONS, member_export, section_queryset
from members.models import AppleRegistration, Member, MemberPrediction, WalletPass
from members.services import ledger_post, member_erase, member_update
from pos.clienteling.confirm import request_create
from pos.clienteling.outreach import contact_log
from pos.clienteling.services import (
    appointment_book,
    client_note_add,
    client_profile_update,
    store_client_add,
    wishlist_add,
)
from pos.models import Purchase
from pos.questionnaire.services import questionnaire_answer
from pos.services import purchase_record, return_record
from pos.services.counter_join import counter_join_record, join_link_read, join_token
from tests.factories import UserFactory
from tiers.models import Invitation, Tier


def paths_to_member(model, depth=0, seen=()) -> list[str]:
    """Every lookup path from `model` to Member along forward foreign keys and one-to-ones
    (at most four hops)."""
    found = []
    for field in model._meta.concrete_fields:
        target = field.related_model if field.is_relation else None
        if target is None:
            continue
        if target is Member:
            found.append(field.name)
        elif depth < 3 and target not in seen and target._meta.app_label not in ("auth",):
            found += [
                f"{field.name}__{p}" for p in paths_to_member(target, depth + 1, (*seen, model))
            ]
    return found


MEMBER_MODELS = {m._meta.label: paths for m in apps.get_models() if (paths := paths_to_member(m))}


def test_every_model_that_points_at_a_member_is_exported_or_excused():
    covered = {s.model for s in SECTIONS}
    missing = set(MEMBER_MODELS) - covered - set(EXCLUDED)
    assert not missing, (
        f"add these to loyalty.console.privacy.SECTIONS (or EXCLUDED, with why): {missing}"
    )
    for section in SECTIONS:
        assert section.path in MEMBER_MODELS[section.model], section


@pytest.fixture
def rich_member(program, antwerp):
    """A member with a row in every table that points at members."""
    referrer = member_enroll(email="grace@example.com", first_name="Grace")
    member = member_enroll(
        email="ada@example.com",
        first_name="Ada",
        email_opt_in=True,
        referral_code=referrer.referral_code,
    )
    member_enroll(email="friend@example.com", referral_code=member.referral_code)
    member_update(member=member, source="account", sms_opt_in=True)
    ActionRule.objects.create(
        action="review", carats=20, name="Review", starts_at=timezone.now() - timedelta(days=1)
    )
    action_record(member=member, action="review", reference="RING-1")
    challenge = Challenge.objects.create(
        name="Second sparkle", goal="purchases", enrolment="auto", badge="Sparkle"
    )
    ChallengeEnrolment.objects.create(
        challenge=challenge, member=member, enrolled_at=timezone.now()
    )
    Badge.objects.create(member=member, name="Sparkle", challenge=challenge)
    purchase_record(
        member=member,
        channel="store",
        store=antwerp,
        receipt_id="X1",
        amount="2500.00",
        currency="EUR",
        lines=[{"sku": "RING-1", "category": "rings", "amount": "2500.00", "quantity": 1}],
    )
    return_record(channel="store", store=antwerp, receipt_id="X1", return_id="R1", amount="10")
    questionnaire_answer(
        purchase=Purchase.objects.get(receipt_id="X1"),
        answers={"satisfaction": 4, "bought_for": "self", "metal": "platinum"},
    )
    carats_hold(
        member=member,
        carats=30,
        reason="pending",
        key="held:x",
        occurred_at=timezone.now(),
        status="pending",
    )
    ledger_post(member=member, carats=3000, kind="bonus", reason="gift", key="fund")
    reward = Reward.objects.create(
        name="EUR 25", kind="amount", cost_carats=100, value=Decimal("25"),
        starts_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    voucher = reward_redeem(member=member, reward=reward).voucher
    BirthdayGift.objects.create(member=member, year=2026, carats=0, voucher=voucher)
    club_join(member=member, club=Club.objects.create(name="Watch Club", cost_carats=100))
    MessageLog.objects.create(
        member=member, trigger="welcome", occasion="welcome", due_at=timezone.now()
    )
    staff = UserFactory(email="dpo@carat.example", is_staff=True)
    Invitation.objects.create(
        member=member,
        tier=Tier.objects.filter(invite_only=True).first() or Tier.objects.first(),
        token="tok",
        note="VIP",
        invited_by=staff,
        expires_at=timezone.now() + timedelta(days=30),
    )
    Giveaway.objects.create(
        member=member, title="Spring", hosted_on=date(2026, 4, 1), free_piece="Pearl",
        recorded_by=staff,
    )  # fmt: skip
    Rental.objects.create(
        member=member, piece="Tiara", event="Gala", starts_on=date(2026, 5, 1),
        ends_on=date(2026, 5, 2),
    )  # fmt: skip
    MemberPrediction.objects.create(
        member=member, orders=2, frequency=1, recency_days=40, age_days=90, p_alive=0.8,
        expected_90=0.4, expected_365=1.2, order_value_eur=Decimal("120.00"),
        clv_12m_eur=Decimal("144.00"), computed_at=timezone.now(),
    )  # fmt: skip
    card = WalletPass.objects.create(member=member)
    AppleRegistration.objects.create(wallet_pass=card, device_id="device-1", push_token="ab" * 32)
    # The client book at the store.
    store_client_add(store=antwerp, member=member, reason="registered")
    associate = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    antwerp.staff.add(associate)
    client_note_add(member=member, store=antwerp, author=associate, text="Loves pearls")
    client_profile_update(member=member, actor=associate, ring_size="52", associate=associate)
    wishlist_add(member=member, description="Pearl studs", source="counter", store=antwerp)
    appointment_book(
        store=antwerp,
        member=member,
        associate=associate,
        starts_at=(timezone.now() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0),
        minutes=60,
        purpose="viewing",
        note="Anniversary gift",
    )
    member.refresh_from_db()
    request_create(member=member, reward=reward, store=antwerp, actor=associate, once="x1")
    counter_join_record(
        member=member, link=join_link_read(join_token(store=antwerp, associate=associate))
    )
    contact_log(
        member=member,
        store=antwerp,
        associate=associate,
        channel="call",
        note="Called about the anniversary",
    )
    return member


def assert_exports_every_row(member, *, not_yet=()) -> dict:
    """Every row that reaches `member` by any path is in its model's section; and the
    member has rows in every such table (but `not_yet`), so the check is not empty."""
    export = member_export(member)
    json.dumps(export)  # plain data
    by_model = {s.model: s for s in SECTIONS}
    for label, paths in MEMBER_MODELS.items():
        if label in EXCLUDED:
            continue
        model = apps.get_model(label)
        section = by_model[label]
        exported = set(section_queryset(section, member).values_list("pk", flat=True))
        assert exported or label in not_yet, f"the test member has no {label} row"
        for path in paths:  # whichever way a row reaches the member, the export has it
            reached = set(model.objects.filter(**{path: member}).values_list("pk", flat=True))
            assert reached <= exported, (label, path)
        assert len(export[section.name]) == len(exported), label
    return export


def test_the_export_holds_every_row_of_every_table_that_points_at_the_member(rich_member):
    export = assert_exports_every_row(rich_member, not_yet={"members.ErasureRecord"})
    assert export["profile"]["email"] == "ada@example.com"
    assert export["wallet_devices"][0]["device_id"] == "device-1"
    assert "auth_token" not in export["wallet_card"][0]
    assert (
        export["profile"]["referred_by"]
        == Member.objects.get(email="grace@example.com").member_number
    )
    assert export["referrals_given"][0]["member_number"] == (
        Member.objects.get(email="friend@example.com").member_number
    )
    assert [c["channel"] for c in export["consents"]] == ["email", "sms"]
    assert export["giveaways"][0]["free_piece"] == "Pearl"
    assert export["rentals"][0]["piece"] == "Tiara"
    assert export["challenges"][0]["challenge__name"] == "Second sparkle"
    assert export["badges"][0]["name"] == "Sparkle"
    assert export["held_carats"][0]["carats"] == 30
    assert export["club_memberships"][0]["club__name"] == "Watch Club"
    assert export["messages"][0]["trigger"] == "welcome"
    assert export["client_notes"][0]["text"] == "Loves pearls"
    assert export["client_preferences"][0]["ring_size"] == "52"
    assert export["wishlist"][0]["description"] == "Pearl studs"
    assert export["appointments"][0]["note"] == "Anniversary gift"
    assert export["client_contacts"][0]["note"] == "Called about the anniversary"


def test_the_export_of_an_erased_member_shows_the_erasure_and_no_personal_data(rich_member):
    member_erase(member=rich_member, source="member")
    rich_member.refresh_from_db()
    # The history stays, anonymised; the wallet card is deleted with the erasure.
    export = assert_exports_every_row(
        rich_member, not_yet={"members.WalletPass", "members.AppleRegistration"}
    )
    assert export["erasure"][0]["source"] == "member"
    assert "ada@example.com" not in json.dumps(export)
