"""Who sees what in clienteling, for every role (the matrix in test_authz_matrix has no
store manager, integration admin or second store's assistant; this covers them on every
new page and form): anonymous, a member, store staff of Antwerp and of London, the store
manager of Antwerp, marketing, the integration admin."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.services import member_enroll
from loyalty.kernel.roles import (
    INTEGRATION_ADMIN,
    MARKETING,
    STORE_MANAGER,
    STORE_STAFF,
    role_grant,
    roles_apply,
)
from members.models import User
from pos.clienteling.models import (
    Appointment,
    ClientContact,
    ClientNote,
    ClientProfile,
    StoreClient,
    WishlistItem,
)
from pos.clienteling.services import appointment_book
from tests.factories import UserFactory

ROLES = ("anonymous", "member", "staff_a", "staff_b", "manager_a", "marketing", "integration")


@pytest.fixture
def world(program, antwerp, london):
    roles_apply()
    people = {}
    for name, role, stores in (
        ("staff_a", STORE_STAFF, [antwerp]),
        ("staff_b", STORE_STAFF, [london]),
        ("manager_a", STORE_MANAGER, [antwerp]),
        ("marketing", MARKETING, []),
        ("integration", INTEGRATION_ADMIN, []),
    ):
        user = UserFactory(email=f"{name}@carat.example", full_name=name.title())
        role_grant(user=user, role=role, stores=stores)
        people[name] = user
    user = User.objects.create_user(email="ines@example.com", password="pw-12345678")
    ines = member_enroll(
        email="ines@example.com", first_name="Ines", last_name="Marchal", user=user
    )
    people["member"] = user
    StoreClient.objects.create(store=antwerp, member=ines, reason="registered")
    appointment = appointment_book(
        store=antwerp,
        member=ines,
        associate=people["staff_a"],
        starts_at=(timezone.now() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0),
        minutes=60,
        purpose="styling",
    )
    return {"people": people, "ines": ines, "appointment": appointment}


def client_for(world, role):
    client = Client()
    client.raise_request_exception = False
    if role != "anonymous":
        client.force_login(world["people"][role])
    return client


def snapshot():
    return (
        ClientNote.objects.count(),
        ClientProfile.objects.count(),
        WishlistItem.objects.count(),
        ClientContact.objects.count(),
        list(Appointment.objects.values_list("pk", "status")),
    )


N = lambda w: w["ines"].member_number  # noqa: E731

# (name, method, url, data, roles allowed) -- the others get the POS login (anonymous),
# 403 (no store: member, marketing, integration admin) or 404 (another store's staff).
SURFACES = [
    ("search", "get", lambda w: reverse("pos:clients") + "?q=marchal", None),
    ("client book", "get", lambda w: reverse("pos:client_book", args=[N(w)]), None),
    ("note", "post", lambda w: reverse("pos:client_note", args=[N(w)]), {"text": "Hi"}),
    (
        "preferences",
        "post",
        lambda w: reverse("pos:client_profile", args=[N(w)]),
        {"ring_size": "50"},
    ),
    ("wish", "post", lambda w: reverse("pos:client_wish", args=[N(w)]), {"description": "Ring"}),
    (
        "contact",
        "post",
        lambda w: reverse("pos:client_contact", args=[N(w)]),
        {"channel": "call"},
    ),
    ("outreach", "get", lambda w: reverse("pos:outreach"), None),
    ("day view", "get", lambda w: reverse("pos:day"), None),
    (
        "cancel the appointment",
        "post",
        lambda w: reverse("pos:appointment_cancel", args=[w["appointment"].pk]),
        {},
    ),
]
# Antwerp's staff and manager act; London's assistant has no access to Antwerp's client
# (404 on her, 200 on the store-wide pages of London, where she is not listed).
EXPECT = {
    "anonymous": {"*": 302},
    "member": {"*": 403},
    "marketing": {"*": 403},
    "integration": {"*": 403},
    "staff_a": {"get": 200, "post": 302},
    "manager_a": {"get": 200, "post": 302},
    "staff_b": {"search": 200, "outreach": 200, "day view": 200, "*": 404},
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("surface", SURFACES, ids=[s[0] for s in SURFACES])
def test_every_role_on_every_clienteling_page(world, role, surface):
    name, method, path, data = surface
    by = EXPECT[role]
    expected = by.get(name, by.get(method, by.get("*")))
    before = snapshot()
    response = getattr(client_for(world, role), method)(path(world), data or {})
    assert response.status_code == expected, (role, name, response.status_code)
    body = response.content.decode()
    if role not in ("staff_a", "manager_a"):
        assert "Marchal" not in body, (role, name)
        assert snapshot() == before, (role, name)
    if expected == 302 and role == "anonymous":
        assert response["Location"].startswith(reverse("pos:login"))


@pytest.mark.django_db
def test_the_manager_sees_the_whole_outreach_and_staff_their_own(world, antwerp):
    from pos.clienteling.services import client_profile_update

    other = UserFactory(email="eva@carat.example", full_name="Eva")
    antwerp.staff.add(other)
    client_profile_update(member=world["ines"], actor=None, associate=other)
    from pos.clienteling.services import wishlist_add

    # Ines, Eva's client, wished for a piece: on the manager's list, not on Sam's.

    wishlist_add(member=world["ines"], description="Pearl", source="account")
    staff = client_for(world, "staff_a").get(reverse("pos:outreach")).content.decode()
    manager = client_for(world, "manager_a").get(reverse("pos:outreach")).content.decode()
    assert "Marchal" not in staff  # Eva's client
    assert "Marchal" in manager
