"""The member 360 in the console: the summary the member page opens on, and its actions
(adjust carats, invite to Ambassador, mail the card again, reset the login)."""

import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.services import member_enroll
from members.models import LedgerEntry, Member, User
from pos.services import purchase_record
from tiers.models import Invitation


def change_url(member):
    return reverse("admin:members_member_change", args=[member.pk])


def action_url(member, slug):
    return reverse("admin:members_member_action", args=[member.pk, slug])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def buyer(member, antwerp, london, gbp):
    for receipt, store, amount, currency in (
        ("A-1", antwerp, "300.00", "EUR"),
        ("A-2", antwerp, "500.00", "EUR"),
        ("L-1", london, "100.00", "GBP"),
    ):
        purchase_record(
            member=member,
            channel="store",
            store=store,
            receipt_id=receipt,
            amount=amount,
            currency=currency,
        )
    member.refresh_from_db()
    return member


def test_member_page_opens_on_the_summary(client, marketing, buyer):
    page = client.get(change_url(buyer)).content.decode()
    summary = page[page.index('class="m360"') : page.index("m360-tabs")]
    assert "Lifetime value" in summary
    assert f"{buyer.purchase_count}" in summary
    spend = buyer.lifetime_spend_eur
    assert f"{spend / 3:,.2f}" in summary  # the average order
    assert "Carat Antwerp" in summary  # the favourite store: two of three orders
    assert "Marquise" in summary  # the tier; and the next one with the carats to go
    assert re.search(r"more to reach \w+", summary)
    # The actions, and the edit form in a tab below rather than on top.
    for slug in ("adjust", "invite", "send-card", "reset-login"):
        assert action_url(buyer, slug) in summary
    assert page.index("m360-tabs") < page.index('id="tab-profile"')


def test_prediction_slot_renders_nothing_without_predictions(client, marketing, buyer):
    page = client.get(change_url(buyer)).content.decode()
    assert "m360-predictions" not in page


def test_member_page_queries_do_not_grow_with_the_history(client, marketing, buyer, antwerp):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(change_url(buyer)).status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for i in range(15):
        purchase_record(
            member=buyer,
            channel="store",
            store=antwerp,
            receipt_id=f"MORE-{i}",
            amount="50.00",
            currency="EUR",
        )
    assert count() == before


def test_adjust_carats_with_a_reason_says_what_happened(client, marketing, buyer):
    form = client.get(action_url(buyer, "adjust"))
    assert form.status_code == 200
    batch = form.context["form"]["batch"].value()
    balance = buyer.balance
    response = client.post(
        action_url(buyer, "adjust"),
        {"carats": "312", "reason": "goodwill: late delivery", "batch": batch},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == change_url(buyer)
    buyer.refresh_from_db()
    assert buyer.balance == balance + 312
    entry = LedgerEntry.objects.get(member=buyer, kind="adjustment")
    assert entry.actor == marketing and entry.reason == "goodwill: late delivery"
    assert any("+312 carats" in m and "goodwill" in m for m in messages_of(response))
    # The same form sent twice books once.
    client.post(
        action_url(buyer, "adjust"),
        {"carats": "312", "reason": "goodwill: late delivery", "batch": batch},
    )
    assert LedgerEntry.objects.filter(member=buyer, kind="adjustment").count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {"carats": "0", "reason": "x"},
        {"carats": "10000000", "reason": "x"},
        {"carats": "-5", "reason": ""},
        {"carats": "abc", "reason": "x"},
    ],
)
def test_bad_adjustment_is_refused_and_changes_nothing(client, marketing, buyer, data):
    balance = buyer.balance
    response = client.post(action_url(buyer, "adjust"), {**data, "batch": "a" * 32})
    assert response.status_code == 400
    buyer.refresh_from_db()
    assert buyer.balance == balance


def test_taking_back_more_than_the_balance_is_a_clear_error(client, marketing, buyer):
    response = client.post(
        action_url(buyer, "adjust"),
        {"carats": str(-(buyer.balance + 1)), "reason": "error", "batch": "b" * 32},
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()


def test_invite_to_ambassador_mails_a_link(
    client, marketing, buyer, tiers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            action_url(buyer, "invite"),
            {"tier": tiers["ambassador"].pk, "note": "Instagram creator"},
            follow=True,
        )
    invitation = Invitation.objects.get(member=buyer)
    assert invitation.invited_by == marketing and invitation.note == "Instagram creator"
    assert any("Invitation to Ambassador" in m for m in messages_of(response))
    assert [m.to for m in mail.outbox] == [[buyer.email]]


def test_invite_to_a_public_tier_is_refused(client, marketing, buyer, tiers):
    response = client.post(action_url(buyer, "invite"), {"tier": tiers["radiant"].pk, "note": "x"})
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_resend_the_card_mails_the_qr_code(
    client, marketing, buyer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action_url(buyer, "send-card"), follow=True)
    assert any("on its way to ada@example.com" in m for m in messages_of(response))
    (sent,) = mail.outbox
    assert sent.to == [buyer.email] and buyer.member_number in sent.body
    (_name, content, mimetype) = sent.attachments[0]
    assert mimetype == "image/png" and content.startswith(b"\x89PNG")


def test_resend_the_card_is_bounded_per_hour(client, marketing, buyer, fresh_cache):
    for _ in range(5):
        assert client.post(action_url(buyer, "send-card")).status_code == 302
    assert client.post(action_url(buyer, "send-card")).status_code == 400


def test_reset_login_mails_a_password_link(
    client, marketing, program, django_capture_on_commit_callbacks, fresh_cache
):
    user = User.objects.create_user(email="lin@example.com", password="old-pass-123")
    member = member_enroll(email="lin@example.com", first_name="Lin", user=user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action_url(member, "reset-login"), follow=True)
    assert any("new password went to lin@example.com" in m for m in messages_of(response))
    (sent,) = mail.outbox
    assert "/password/" in sent.body or "reset" in sent.body
    user.refresh_from_db()
    assert user.check_password("old-pass-123")  # unchanged until the member chooses


def test_reset_login_without_a_login_invites(
    client, marketing, buyer, django_capture_on_commit_callbacks, fresh_cache
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action_url(buyer, "reset-login"), follow=True)
    assert any("no web login" in m for m in messages_of(response))
    assert Member.objects.get(pk=buyer.pk).user.email == buyer.email


def test_reset_login_never_touches_a_staff_login(client, marketing, program, console_user):
    staff = console_user("Marketing", email="colleague@example.com")
    member = member_enroll(email="colleague@example.com", first_name="Col", user=staff)
    response = client.post(action_url(member, "reset-login"))
    assert response.status_code == 400
    assert not mail.outbox


def test_actions_need_the_change_permission(client, buyer, console_user):
    viewer = console_user("Store manager", email="viewer@example.com")
    client.force_login(viewer)
    balance = buyer.balance
    for slug in ("adjust", "invite", "send-card", "reset-login"):
        response = client.post(
            action_url(buyer, slug), {"carats": "5", "reason": "x", "batch": "c" * 32}
        )
        assert response.status_code == 403, slug
    buyer.refresh_from_db()
    assert buyer.balance == balance and not mail.outbox


def test_unknown_action_or_member_is_a_404(client, marketing, buyer):
    assert client.get(action_url(buyer, "promote-to-admin")).status_code == 404
    missing = reverse("admin:members_member_action", args=[999999, "adjust"])
    assert client.get(missing).status_code == 404
