"""Ambassadors: invitation by e-mail, giveaways and rentals."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Giveaway
from campaigns.services import giveaway_record, rental_book
from loyalty.kernel.errors import Conflict, DomainError, NotFound
from members.models import Member, User
from tests.factories import UserFactory
from tiers.models import Invitation, TierChange
from tiers.selectors import member_tier
from tiers.services import invitation_accept, invitation_send, tier_invite


def test_invitation_email_link_assigns_the_hidden_tier_once(
    client, member, tiers, django_capture_on_commit_callbacks
):
    marketing = UserFactory(email="mkt@example.com", is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        invitation_send(member=member, tier=tiers["ambassador"], actor=marketing, note="Creator")
    assert member_tier(member).code == "radiant"  # nothing until accepted
    message = mail.outbox[-1]
    assert "Ambassador" in message.subject
    path = re.search(r"https?://[^/\s]+(/\S+)", message.body).group(1)
    user = User.objects.create_user(email=member.email, password="x-12345678")
    Member.objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    assert "Accept the invitation" in client.get(path).content.decode()
    client.post(path)
    assert member_tier(member).code == "ambassador"
    change = TierChange.objects.get(member=member, reason="invited")
    assert change.actor == marketing
    response = client.post(path, follow=True)
    assert "already accepted" in response.content.decode()


def test_an_invitation_is_personal_and_expires(member, enroll, tiers):
    other = enroll()
    inv = invitation_send(member=member, tier=tiers["ambassador"], actor=UserFactory(), note="x")
    with pytest.raises(NotFound):
        invitation_accept(token=inv.token, member=other)
    Invitation.objects.filter(pk=inv.pk).update(expires_at=timezone.now() - timedelta(days=1))
    with pytest.raises(Conflict):
        invitation_accept(token=inv.token, member=member)
    with pytest.raises(DomainError):
        invitation_send(member=member, tier=tiers["emerald"], actor=UserFactory(), note="x")


def test_giveaways_and_rentals_are_for_ambassadors(member, tiers):
    staff = UserFactory()
    with pytest.raises(DomainError):
        giveaway_record(
            member=member,
            title="Spring",
            hosted_on=timezone.localdate(),
            free_piece="Ring",
            actor=staff,
        )
    tier_invite(member=member, tier=tiers["ambassador"], actor=staff, note="creator")
    giveaway_record(
        member=member,
        title="Spring",
        hosted_on=timezone.localdate(),
        free_piece="Ring",
        actor=staff,
    )
    assert Giveaway.objects.get().free_piece == "Ring"
    start = timezone.localdate() + timedelta(days=5)
    rental_book(
        member=member,
        piece="Riviera necklace",
        sku="NECK-1",
        event="Gala",
        starts_on=start,
        ends_on=start + timedelta(days=2),
    )
    with pytest.raises(Conflict):
        rental_book(
            member=member,
            piece="Riviera necklace",
            sku="NECK-1",
            event="Shoot",
            starts_on=start + timedelta(days=1),
            ends_on=start + timedelta(days=3),
        )
    with pytest.raises(DomainError):
        rental_book(
            member=member, piece="x", event="y", starts_on=start, ends_on=start - timedelta(days=1)
        )


def test_admin_send_invitation_action(client, member, tiers, django_capture_on_commit_callbacks):
    admin_user = User.objects.create_superuser(email="boss@example.com", password="x-12345678")
    client.force_login(admin_user)
    data = {
        "action": "send_invitation",
        "_selected_action": [member.pk],
        "apply": "1",
        "tier": tiers["ambassador"].pk,
        "note": "Top spender",
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("admin:members_member_changelist"), data).status_code == 302
    assert Invitation.objects.get(member=member).note == "Top spender"
    assert len(mail.outbox) == 1


def test_admin_giveaway_for_a_non_ambassador_shows_an_error(client, member):
    admin_user = User.objects.create_superuser(email="boss@example.com", password="x-12345678")
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:campaigns_giveaway_add"),
        {
            "member": member.pk,
            "title": "T",
            "hosted_on": "2026-01-01",
            "free_piece": "Ring",
            "channel": "",
            "notes": "",
        },
        follow=True,
    )
    assert "invite-only tier" in response.content.decode()
    assert not Giveaway.objects.exists()
