"""Clienteling at the counter (pos.clienteling): the client search, duplicate
registration, the client book, who sees what, appointments."""

import pytest
from django.db import connection
from django.urls import reverse

from campaigns.services import member_enroll
from members.selectors import client_search, member_duplicates
from pos.clienteling.models import StoreClient
from pos.services import purchase_record
from tests.factories import UserFactory

CLIENTS = reverse("pos:clients")


@pytest.fixture
def assistant(antwerp):
    user = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    antwerp.staff.add(user)
    return user


@pytest.fixture
def till(client, assistant, program):
    client.force_login(assistant)
    return client


def book_url(member, name="pos:client_book"):
    return reverse(name, args=[member.member_number])


def in_book(store, member, reason=StoreClient.Reason.REGISTERED):
    StoreClient.objects.create(store=store, member=member, reason=reason)


# --- 1. the search -------------------------------------------------------------------------


@pytest.fixture
def clients(program):
    return {
        "dupre": member_enroll(
            email="anne.dupre@example.com",
            first_name="Anne",
            last_name="Dupré",
            phone="+32 470 12 34 56",
        ),
        "dupont": member_enroll(email="jo@example.com", first_name="Jo", last_name="Dupont"),
        "oconnor": member_enroll(
            email="celine@example.com", first_name="Céline", last_name="van den Berg"
        ),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, expected",
    [
        ("dupre", {"dupre"}),
        ("DUPRÉ", {"dupre"}),
        ("Dup", {"dupre", "dupont"}),
        ("anne", {"dupre"}),
        ("celine", {"oconnor"}),
        ("anne dup", {"dupre"}),
        ("dupré anne", {"dupre"}),
        ("van den", {"oconnor"}),
        ("anne.dupre@", {"dupre"}),
        ("+32 470 12", {"dupre"}),
        ("3247012", {"dupre"}),
        ("0470 12 34", {"dupre"}),  # the national form of +32 470 12 34 56
        ("0032 470", {"dupre"}),
        ("0471", set()),
        ("d", set()),  # too short: would match a letter's share of a million members
        ("upre", set()),  # a prefix search, never a substring scan
        ("dup%", set()),  # the wildcard is a character, not a pattern
    ],
)
def test_client_search_prefix_accent_and_case_insensitive(clients, query, expected):
    found = {k for k, m in clients.items() if m in client_search(query)}
    assert found == expected


@pytest.mark.django_db
def test_client_search_leaves_out_erased_members(clients):
    from members.services import member_erase

    member_erase(member=clients["dupont"], source="console", reason="request")
    assert clients["dupont"] not in client_search("dupont")


@pytest.mark.postgresql  # reads PostgreSQL's plans
@pytest.mark.django_db
def test_client_search_uses_the_expression_indexes(clients):
    """The name prefix reads the folded-name index, not the table."""
    from django.db.models import Q  # noqa: F401

    from members.folding import Fold
    from members.models import Member

    qs = Member.objects.annotate(_k=Fold("last_name")).filter(_k__startswith="dup").order_by("_k")
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        sql, params = qs.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "member_last_name_fold" in plan, plan


@pytest.mark.django_db
def test_search_page_shows_only_the_stores_clients(till, clients, antwerp, london):
    in_book(antwerp, clients["dupre"])
    in_book(london, clients["dupont"])
    response = till.get(CLIENTS, {"q": "dup"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Dupré" in body and "Dupont" not in body
    assert reverse("pos:member", args=[clients["dupre"].member_number]) in body


@pytest.mark.django_db
def test_a_client_who_bought_at_the_store_is_its_client(till, clients, antwerp):
    from pos.models import Channel

    purchase_record(
        member=clients["dupont"],
        channel=Channel.STORE,
        store=antwerp,
        receipt_id="R-1",
        amount="100.00",
        currency="EUR",
    )
    assert "Dupont" in till.get(CLIENTS, {"q": "dupont"}).content.decode()


@pytest.mark.django_db
def test_a_scanned_client_joins_the_store_book(till, clients, antwerp):
    member = clients["dupont"]
    assert till.get(book_url(member)).status_code == 404
    response = till.post(reverse("pos:scan"), {"code": member.member_number})
    assert response.status_code == 302
    assert till.get(book_url(member)).status_code == 200
    assert "Dupont" in till.get(CLIENTS, {"q": "dupont"}).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "a", "x" * 500, "%_\\", "' OR 1=1 --", "\x00"])
def test_search_page_odd_input_is_never_a_500(till, clients, query):
    assert till.get(CLIENTS, {"q": query}).status_code == 200


# --- 1. duplicate registration -------------------------------------------------------------


def register(client, **data):
    return client.post(
        reverse("pos:register"),
        {"email": "new@example.com", "first_name": "New", "last_name": "Client", **data},
    )


@pytest.mark.django_db
def test_registration_with_an_existing_email_offers_that_member(till, clients):
    from members.models import Member

    before = Member.objects.count()
    response = register(till, email="Anne.Dupre@example.com")
    assert response.status_code == 409
    body = response.content.decode()
    assert "Dupré" in body and "Use this member" in body
    assert clients["dupre"].member_number in body
    assert Member.objects.count() == before
    # "Use this member" is a scan of the member's number: their page, in the store's book.
    use = till.post(reverse("pos:scan"), {"code": clients["dupre"].member_number})
    assert use.status_code == 302 and clients["dupre"].member_number in use["Location"]


@pytest.mark.django_db
def test_registration_with_an_existing_phone_offers_that_member_or_a_new_one(till, clients):
    from members.models import Member

    response = register(till, phone="0032 (470) 12-34-56".replace("0032", "+32"))
    assert response.status_code == 409
    assert "Dupré" in response.content.decode()
    assert 'name="new_despite_phone"' in response.content.decode()
    assert not Member.objects.filter(email="new@example.com").exists()
    response = register(till, phone="+32 470 12 34 56", new_despite_phone="1")
    assert response.status_code == 302
    new = Member.objects.get(email="new@example.com")
    assert new.phone == "+32 470 12 34 56"
    assert StoreClient.objects.filter(member=new, reason="registered").exists()


@pytest.mark.django_db
def test_member_duplicates_matches_phone_digits_only_when_long_enough(clients):
    assert member_duplicates(phone="+32470123456") == [clients["dupre"]]
    assert member_duplicates(phone="32") == []
    assert member_duplicates(email="JO@example.com") == [clients["dupont"]]


# --- 3./6. the client book and the erasure -------------------------------------------------


@pytest.mark.django_db
def test_erasure_deletes_notes_preferences_and_wishlist_and_frees_appointments(
    clients, antwerp, assistant
):
    from datetime import timedelta

    from django.utils import timezone

    from loyalty.console.privacy import member_erase_all
    from pos.clienteling.models import (
        Appointment,
        AppointmentSlot,
        ClientNote,
        ClientProfile,
        WishlistItem,
    )
    from pos.clienteling.services import (
        appointment_book,
        client_note_add,
        client_profile_update,
        wishlist_add,
    )

    member = clients["dupre"]
    client_note_add(member=member, store=antwerp, author=assistant, text="Allergic to nickel")
    client_profile_update(member=member, actor=assistant, ring_size="52", partner_name="Marc")
    wishlist_add(member=member, description="Emerald ring", source="counter")
    appointment = appointment_book(
        store=antwerp,
        member=member,
        associate=assistant,
        starts_at=(timezone.now() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0),
        minutes=60,
        purpose="viewing",
        note="For Marc's birthday",
    )
    member_erase_all(member=member, source="console", actor=assistant, reason="request")
    assert not ClientNote.objects.filter(member=member).exists()
    assert not ClientProfile.objects.filter(member=member).exists()
    assert not WishlistItem.objects.filter(member=member).exists()
    appointment.refresh_from_db()
    assert (appointment.note, appointment.status) == ("", "cancelled")
    assert not AppointmentSlot.objects.filter(appointment=appointment).exists()
    assert Appointment.objects.filter(member=member).count() == 1


@pytest.mark.django_db
def test_client_book_shows_what_the_associates_add(till, clients, antwerp):
    from pos.models import Channel

    member = clients["dupre"]
    purchase_record(
        member=member,
        channel=Channel.STORE,
        store=antwerp,
        receipt_id="R-9",
        amount="900.00",
        currency="EUR",
        lines=[{"sku": "RING-EM-52", "category": "rings", "amount": "900.00"}],
    )
    r = till.post(
        book_url(member, "pos:client_note"), {"text": "Her daughter's graduation in June"}
    )
    assert r.status_code == 302
    r = till.post(
        book_url(member, "pos:client_profile"),
        {"metals": "Rose gold", "ring_size": "52", "partner_birthday": "1980-03-04"},
    )
    assert r.status_code == 302
    r = till.post(book_url(member, "pos:client_wish"), {"description": "Sapphire pendant"})
    assert r.status_code == 302
    body = till.get(book_url(member)).content.decode()
    for text in (
        "graduation in June",
        "Rose gold",
        "52",
        "Sapphire pendant",
        "RING-EM-52",
        "4 March",
    ):
        assert text in body, text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, data",
    [
        ("pos:client_note", {"text": ""}),
        ("pos:client_note", {"text": "x" * 5000}),
        ("pos:client_note", {"text": "ok", "follow_up_on": "2001-01-01"}),
        ("pos:client_note", {"text": "ok", "follow_up_on": "2026-02-31"}),
        ("pos:client_profile", {"partner_birthday": "not a date"}),
        ("pos:client_profile", {"associate": "99999"}),
        ("pos:client_wish", {"description": ""}),
    ],
)
def test_client_book_bad_input_is_a_400_and_writes_nothing(till, clients, antwerp, name, data):
    from pos.clienteling.models import ClientNote, ClientProfile, WishlistItem

    member = clients["dupre"]
    in_book(antwerp, member)
    r = till.post(book_url(member, name), data)
    assert r.status_code == 400
    assert not ClientNote.objects.exists()
    assert not ClientProfile.objects.exists()
    assert not WishlistItem.objects.exists()


@pytest.mark.django_db
def test_notes_are_never_on_the_members_own_pages(client, program, antwerp, assistant):
    from members.models import User
    from pos.clienteling.services import client_note_add

    user = User.objects.create_user(email="ada@example.com", password="pw-12345678")
    member = member_enroll(email="ada@example.com", first_name="Ada", user=user)
    client_note_add(member=member, store=antwerp, author=assistant, text="Internal remark 42")
    client.force_login(user)
    for name in ("members:home", "members:profile", "members:history", "members:rewards"):
        assert "Internal remark 42" not in client.get(reverse(name)).content.decode(), name
