"""Joining at the counter on the member's own phone: the signed join link, the sign-up
that records the store and the shop assistant, consent by double opt-in, and the POS
page's store-scoped list of who joined."""

import re
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.urls import reverse
from django.utils import timezone

from members.consent import email_consent_token
from members.models import ConsentChange, Member
from pos.clienteling.models import StoreClient
from pos.models import CounterJoin
from pos.services.counter_join import (
    SALT,
    JoinLinkExpired,
    JoinLinkInvalid,
    join_link_read,
    join_token,
)
from tests.factories import StoreFactory, UserFactory

PASSWORD = "pw-for-tests-1"


def _path(url: str) -> str:
    return re.search(r"https?://[^/\s]+(/\S+)", url).group(1)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def shop(program):
    antwerp = StoreFactory(code="antwerp", name="Carat Antwerp")
    ghent = StoreFactory(code="ghent", name="Carat Ghent")
    sam = UserFactory(email="sam@carat.example", full_name="Sam Shop")
    gert = UserFactory(email="gert@carat.example", full_name="Gert Gent")
    antwerp.staff.add(sam)
    ghent.staff.add(gert)
    return {"antwerp": antwerp, "ghent": ghent, "sam": sam, "gert": gert}


def _join_url(shop, **kw):
    return reverse(
        "members:join_at_store",
        args=[join_token(store=shop["antwerp"], associate=shop["sam"], **kw)],
    )


def _sign_up(client, url, **overrides):
    data = {
        "first_name": "Zoé",
        "last_name": "Peeters",
        "email": "zoe@example.com",
        "password": "sparkle-2026!",
        **overrides,
    }
    return client.post(url, data)


def test_the_join_link_names_the_store_and_the_associate_and_is_stable_for_a_while(shop):
    now = timezone.now()
    token = join_token(store=shop["antwerp"], associate=shop["sam"], now=now)
    link = join_link_read(token)
    assert (link.store, link.associate) == (shop["antwerp"], shop["sam"])
    # The code on the tablet does not change at every refresh of the panel.
    assert join_token(store=shop["antwerp"], associate=shop["sam"], now=now) == token


def test_a_tampered_forged_or_expired_link_is_refused(shop, settings):
    token = join_token(store=shop["antwerp"], associate=shop["sam"])
    with pytest.raises(JoinLinkInvalid):
        join_link_read(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    # Signed with another key: someone making their own link for another store.
    forged = signing.Signer(key="not-the-key", salt=SALT).sign_object(
        {"s": shop["ghent"].pk, "a": shop["sam"].pk, "t": int(timezone.now().timestamp())}
    )
    with pytest.raises(JoinLinkInvalid):
        join_link_read(forged)
    # A shop assistant of another store cannot hand out this store's link.
    other = join_token(store=shop["antwerp"], associate=shop["gert"])
    with pytest.raises(JoinLinkInvalid):
        join_link_read(other)
    settings.CARAT_JOIN_LINK_MINUTES = 60
    old = join_token(
        store=shop["antwerp"], associate=shop["sam"], now=timezone.now() - timedelta(hours=2)
    )
    with pytest.raises(JoinLinkExpired):
        join_link_read(old)
    with pytest.raises(JoinLinkInvalid):
        join_link_read("x" * 400)


def test_a_bad_link_gets_a_clear_page_and_stores_nothing(client, shop):
    token = join_token(
        store=shop["antwerp"], associate=shop["sam"], now=timezone.now() - timedelta(days=1)
    )
    expired = _sign_up(client, reverse("members:join_at_store", args=[token]))
    assert expired.status_code == 410
    assert "expired" in expired.content.decode()
    tampered = client.get(reverse("members:join_at_store", args=["not-a-token"]))
    assert tampered.status_code == 400
    assert "not valid" in tampered.content.decode()
    shop["antwerp"].staff.remove(shop["sam"])
    left = client.get(_join_url(shop))
    assert left.status_code == 400
    assert not Member.objects.exists()


def test_joining_through_the_link_records_the_store_and_the_associate(client, shop, committed):
    page = client.get(_join_url(shop))
    assert page.status_code == 200
    assert "Carat Antwerp" in page.content.decode()
    with committed():
        response = _sign_up(client, _join_url(shop))
    assert response.status_code == 200
    assert "Sam" in response.content.decode()
    member = Member.objects.get(email="zoe@example.com")
    join = CounterJoin.objects.get(member=member)
    assert (join.store, join.associate) == (shop["antwerp"], shop["sam"])
    assert member.source == Member.Source.STORE
    assert StoreClient.objects.filter(
        store=shop["antwerp"], member=member, reason="registered"
    ).exists()
    assert not member.user.is_active  # the address is proven by the mailed link, as always
    assert [m.to for m in mail.outbox] == [["zoe@example.com"]]


def test_a_taken_address_stores_nothing_and_mails_the_owner(client, shop, enroll, committed):
    owner = enroll(email="zoe@example.com", first_name="Zoé")
    with committed():
        response = _sign_up(client, _join_url(shop), email_opt_in="on")
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    assert not CounterJoin.objects.exists()
    owner.refresh_from_db()
    assert not owner.email_opt_in and owner.source != Member.Source.STORE
    assert len(mail.outbox) <= 1  # the owner's reminder at most, never a consent mail
    assert all("news" not in m.subject for m in mail.outbox)


def test_marketing_consent_waits_for_the_confirmation_link(client, shop, committed):
    with committed():
        _sign_up(client, _join_url(shop), email_opt_in="on")
    member = Member.objects.get(email="zoe@example.com")
    assert not member.email_opt_in and member.email_opt_in_at is None
    assert not ConsentChange.objects.filter(member=member).exists()
    consent_mail = next(m for m in mail.outbox if "news" in m.subject)
    link = _path(consent_mail.body)
    # Following the link shows a question; a scanner that fetches it consents to nothing.
    asked = client.get(link)
    assert asked.status_code == 200
    member.refresh_from_db()
    assert not member.email_opt_in
    done = client.post(link)
    assert done.status_code == 200
    member.refresh_from_db()
    assert member.email_opt_in and member.email_opt_in_at is not None
    change = ConsentChange.objects.get(member=member)
    assert (change.channel, change.granted, change.source) == ("email", True, "double opt-in")
    assert client.post(link).status_code == 200  # a second click changes nothing
    assert ConsentChange.objects.filter(member=member).count() == 1


def test_a_tampered_or_stale_consent_link_changes_nothing(client, enroll):
    member = enroll(email="ada@example.com")
    token = email_consent_token(member)
    bad = client.post(reverse("members:consent_confirm", args=[token[:-3] + "xyz"]))
    assert bad.status_code == 400
    member.email = "new@example.com"
    member.save(update_fields=["email"])
    stale = client.post(reverse("members:consent_confirm", args=[token]))
    assert stale.status_code == 400
    member.refresh_from_db()
    assert not member.email_opt_in


def test_the_web_sign_up_asks_for_confirmation_too(client, program, committed):
    with committed():
        client.post(
            reverse("members:signup"),
            {
                "first_name": "Ada",
                "last_name": "King",
                "email": "ada@example.com",
                "password": "sparkle-2026!",
                "email_opt_in": "on",
            },
        )
    member = Member.objects.get(email="ada@example.com")
    assert not member.email_opt_in
    assert sorted(len(m.to) for m in mail.outbox) == [1, 1]  # the address, then the consent


def test_the_pos_lists_only_who_joined_at_its_own_store_lately(client, shop, committed):
    with committed():
        _sign_up(client, _join_url(shop))
        _sign_up(
            client,
            reverse(
                "members:join_at_store",
                args=[join_token(store=shop["ghent"], associate=shop["gert"])],
            ),
            email="jan@example.com",
            first_name="Jan",
        )
    old = Member.objects.get(email="jan@example.com")
    client.logout()
    client.force_login(shop["sam"])
    panel = client.get(reverse("pos:joined")).content.decode()
    assert "Zoé Peeters" in panel and "Jan" not in panel
    index = client.get(reverse("pos:index")).content.decode()
    assert "Zoé Peeters" in index and 'id="join-qr"' in index
    client.force_login(shop["gert"])
    panel = client.get(reverse("pos:joined")).content.decode()
    assert "Jan Peeters" in panel and "Zoé" not in panel
    CounterJoin.objects.filter(member=old).update(joined_at=timezone.now() - timedelta(minutes=31))
    assert "Jan Peeters" not in client.get(reverse("pos:joined")).content.decode()


def test_the_join_code_on_the_pos_page_is_a_signed_link_to_this_store(client, shop):
    client.force_login(shop["sam"])
    page = client.get(reverse("pos:index")).content.decode()
    url = re.search(r'data-join-url="([^"]+)"', page).group(1)
    token = re.search(r"/join/here/([^/]+)/", url).group(1)
    link = join_link_read(token)
    assert (link.store, link.associate) == (shop["antwerp"], shop["sam"])


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_the_join_pages_and_mails_speak_the_visitors_language(client, shop, committed, language):
    from tests.test_member_languages import english_sources, visible_text

    forbidden = english_sources(language)
    client.cookies["django_language"] = language
    stale = join_token(
        store=shop["antwerp"], associate=shop["sam"], now=timezone.now() - timedelta(days=1)
    )
    pages = {
        "join": client.get(_join_url(shop)),
        "expired": client.get(reverse("members:join_at_store", args=[stale])),
        "tampered": client.get(reverse("members:join_at_store", args=["x"])),
    }
    with committed():
        pages["done"] = _sign_up(client, _join_url(shop), email_opt_in="on")
    member = Member.objects.get(email="zoe@example.com")
    assert member.language == language
    consent_mail = mail.outbox[-1]
    link = _path(consent_mail.body)
    pages["consent"] = client.get(link)
    pages["consented"] = client.post(link)
    client.force_login(shop["sam"])
    pages["pos"] = client.get(reverse("pos:index"))
    pages["pos panel"] = client.get(reverse("pos:joined"))
    for name, response in pages.items():
        text = visible_text(response.content.decode())
        english = sorted(s for s in forbidden if s in text)
        assert not english, f"{name} in {language} shows English: {english}"
    for message in mail.outbox:
        english = sorted(s for s in forbidden if s in message.subject + message.body)
        assert not english, f"{message.subject} in {language} shows English: {english}"
