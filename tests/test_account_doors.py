"""The doors of the member's web account: sign-up never claims an existing login, only an
administrator reopens a closed one, and password guessing is slowed down without letting
anyone lock out the owner."""

import re
import time

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from campaigns.models import ActionRule, ActionType
from campaigns.services import member_enroll
from members.models import Member, User
from members.services import member_invite
from pos.services import api_key_create

STRANGER_PASSWORD = "stranger-pass-2026"
OWNER_PASSWORD = "owners-own-pass-77"


@pytest.fixture(autouse=True)
def _clean_cache(fresh_cache):
    """The throttles count in the cache."""


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _links(messages) -> list[str]:
    return [
        m.group(1)
        for message in messages
        for m in re.finditer(r"https?://[^/\s]+(/\S+)", message.body)
    ]


def join(client, email, password=STRANGER_PASSWORD, **extra):
    data = {
        "first_name": "Mallory",
        "last_name": "Stranger",
        "email": email,
        "password": password,
        **extra,
    }
    return client.post(reverse("members:signup"), data)


def _owner_follows_every_link(mailbox) -> Client:
    """The address's owner, in their own browser, opens every link mailed to them and
    chooses a password where asked to."""
    owner = Client()
    for link in _links(mailbox):
        page = owner.get(link, follow=True)
        if page.redirect_chain and "new_password1" in page.content.decode():
            owner.post(
                page.redirect_chain[-1][0],
                {"new_password1": OWNER_PASSWORD, "new_password2": OWNER_PASSWORD},
            )
    return owner


# --- 1. Sign-up never sets the password of an existing login --------------------------


def test_signup_with_a_till_members_address_does_not_take_the_strangers_password(
    client, program, committed
):
    with committed():
        member = member_enroll(email="till@example.com", first_name="Tia", source="store")
        member_invite(member=member)
    mail.outbox.clear()
    with committed():
        response = join(client, "till@example.com")
    assert "Check your inbox" in response.content.decode()
    assert len(mail.outbox) == 1  # the owner hears about it
    _owner_follows_every_link(mail.outbox)
    assert not Client().login(email="till@example.com", password=STRANGER_PASSWORD)
    # the owner opened the membership with a password of their own
    assert Client().login(email="till@example.com", password=OWNER_PASSWORD)
    member.refresh_from_db()
    assert member.first_name == "Tia"  # the stranger's form changed nothing


def test_signup_with_a_members_address_without_login_claims_nothing(client, member, committed):
    with committed():
        join(client, member.email, sms_opt_in="on", email_opt_in="on")
    member.refresh_from_db()
    assert (member.email_opt_in, member.sms_opt_in) == (False, False)
    assert member.user is None or not member.user.has_usable_password()
    # the link in the mail, opened by the owner, asks for a password: it does not log in
    # with the one the stranger typed
    owner = Client()
    page = owner.get(_links(mail.outbox)[0], follow=True)
    assert "new_password1" in page.content.decode()
    assert "_auth_user_id" not in owner.session
    assert not Client().login(email=member.email, password=STRANGER_PASSWORD)


def test_signup_never_touches_a_deactivated_staff_login(client, program, committed):
    staff = User.objects.create_user(
        email="former@example.com", password="old-console-pass-1", is_staff=True, is_active=False
    )
    with committed():
        response = join(client, "former@example.com")
    assert "Check your inbox" in response.content.decode()
    staff.refresh_from_db()
    assert staff.check_password("old-console-pass-1") and not staff.is_active
    assert not Member.objects.filter(email="former@example.com").exists()
    assert mail.outbox == []  # nothing that could open it
    assert not Client().login(email="former@example.com", password=STRANGER_PASSWORD)


def test_signup_never_touches_a_login_deactivated_by_an_administrator(client, member, committed):
    user = User.objects.create_user(email=member.email, password="pw-12345-abc")
    Member.objects.filter(pk=member.pk).update(user=user)
    User.objects.filter(pk=user.pk).update(is_active=False)  # closed in the console
    with committed():
        join(client, member.email)
    user.refresh_from_db()
    assert not user.is_active and user.check_password("pw-12345-abc")
    assert mail.outbox == []


def test_signup_answers_the_same_for_a_new_and_a_taken_address(client, member, program):
    User.objects.create_user(email="active@example.com", password="strong-pass-99")
    answers = []
    for email in ("brand-new@example.com", member.email, "active@example.com"):
        response = join(Client(), email)
        body = response.content.decode().replace(email, "EMAIL")
        body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)
        answers.append((response.status_code, sorted(response.cookies), body))
    assert answers[0] == answers[1] == answers[2]
    assert "Check your inbox" in answers[0][2]


def test_a_verification_link_opened_elsewhere_asks_the_owner_for_a_password(
    client, program, committed
):
    """A stranger joins with an address nobody uses yet; the owner of the address opens
    the verification mail: the stranger's password must not open the account."""
    with committed():
        join(client, "victim@example.com")
    owner = Client()
    page = owner.get(_links(mail.outbox)[0], follow=True)
    assert "new_password1" in page.content.decode()  # choose your password
    assert not User.objects.get(email="victim@example.com").is_active
    _owner_follows_every_link(mail.outbox)
    assert not Client().login(email="victim@example.com", password=STRANGER_PASSWORD)
    assert Client().login(email="victim@example.com", password=OWNER_PASSWORD)


# --- 2. Only an administrator reopens a closed login ---------------------------------


def _reset_link(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse(
        "members:password_reset_confirm", args=[uid, default_token_generator.make_token(user)]
    )


@pytest.mark.parametrize("kind", ["member", "staff"])
def test_password_reset_does_not_reopen_a_deactivated_login(client, member, committed, kind):
    user = User.objects.create_user(
        email="gone@example.com", password="pw-12345-abc", is_staff=kind == "staff"
    )
    if kind == "member":
        Member.objects.filter(pk=member.pk).update(user=user, email=user.email)
    link = _reset_link(user)  # e.g. a reset mail asked for before the deactivation
    User.objects.filter(pk=user.pk).update(is_active=False)
    with committed():
        client.post(reverse("members:password_reset"), {"email": "gone@example.com"})
    assert mail.outbox == []
    page = client.get(link, follow=True)
    client.post(
        page.redirect_chain[-1][0] if page.redirect_chain else link,
        {"new_password1": OWNER_PASSWORD, "new_password2": OWNER_PASSWORD},
    )
    user.refresh_from_db()
    assert not user.is_active
    assert user.check_password("pw-12345-abc")
    assert "_auth_user_id" not in client.session


def test_the_member_pages_never_reset_an_active_staff_login(client, program, committed):
    staff = User.objects.create_user(email="ops@example.com", password="x-12345678", is_staff=True)
    with committed():
        client.post(reverse("members:password_reset"), {"email": "ops@example.com"})
    assert mail.outbox == []
    page = client.get(_reset_link(staff), follow=True)
    assert "new_password1" not in page.content.decode()


def test_a_member_invited_at_the_till_still_opens_the_account_by_reset(client, member, committed):
    member_invite(member=member)
    with committed():
        client.post(reverse("members:password_reset"), {"email": member.email})
    assert len(mail.outbox) == 1
    _owner_follows_every_link(mail.outbox)
    user = User.objects.get(email=member.email)
    assert user.is_active and user.check_password(OWNER_PASSWORD)


def test_an_erased_members_login_stays_closed(client, member, committed):
    member_invite(member=member)
    user = User.objects.get(email=member.email)
    link = _reset_link(user)
    from members.services import member_erase

    member_erase(member=member, source="member")
    page = client.get(link, follow=True)
    assert "new_password1" not in page.content.decode()
    user.refresh_from_db()
    assert not user.is_active


# --- 6. Throttling that nobody can turn against the owner ----------------------------


LOGIN = "/account/login/"


def _login(client, email, password, **meta):
    client.post(LOGIN, {"username": email, "password": password}, **meta)
    return "_auth_user_id" in client.session


def test_a_strangers_failures_do_not_lock_out_the_owner(db, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    User.objects.create_user(email="target@example.com", password="right-pass-123")
    attacker = Client()
    for _ in range(20):
        assert not _login(attacker, "target@example.com", "guess", REMOTE_ADDR="203.0.113.66")
    assert not _login(attacker, "target@example.com", "right-pass-123", REMOTE_ADDR="203.0.113.66")
    assert _login(Client(), "target@example.com", "right-pass-123", REMOTE_ADDR="198.51.100.7")


def test_behind_a_proxy_one_clients_failures_lock_out_nobody_else(db, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.CARAT_TRUSTED_PROXIES = 1
    User.objects.create_user(email="target@example.com", password="right-pass-123")
    User.objects.create_user(email="other@example.com", password="other-pass-123")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    attacker = Client()
    for n in range(20):
        # the client writes what it likes on the left; the proxy appends the real address
        spoofed = {"HTTP_X_FORWARDED_FOR": f"192.0.2.{n}, 203.0.113.66", **proxy}
        assert not _login(attacker, "target@example.com", "guess", **spoofed)
    blocked = {"HTTP_X_FORWARDED_FOR": "192.0.2.200, 203.0.113.66", **proxy}
    assert not _login(attacker, "target@example.com", "right-pass-123", **blocked)
    owner = {"HTTP_X_FORWARDED_FOR": "198.51.100.7", **proxy}
    assert _login(Client(), "target@example.com", "right-pass-123", **owner)
    neighbour = {"HTTP_X_FORWARDED_FOR": "203.0.113.66", **proxy}
    assert _login(Client(), "other@example.com", "other-pass-123", **neighbour)


def test_the_wait_grows_and_then_ends(db, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    settings.LOGIN_FAILURE_DELAY = 1
    User.objects.create_user(email="target@example.com", password="right-pass-123")
    client = Client()
    for _ in range(2):
        _login(client, "target@example.com", "typo")
    assert not _login(client, "target@example.com", "right-pass-123")  # a wait of 1 s
    time.sleep(1.2)
    _login(client, "target@example.com", "typo")  # the third: a wait of 2 s
    time.sleep(1.2)
    assert not _login(client, "target@example.com", "right-pass-123")
    time.sleep(1.2)
    assert _login(client, "target@example.com", "right-pass-123")


def test_one_address_guessing_at_many_accounts_is_stopped(db, settings):
    settings.LOGIN_FAILURE_ADDRESS_LIMIT = 10
    User.objects.create_user(email="target@example.com", password="right-pass-123")
    sprayer = Client()
    for n in range(10):
        _login(sprayer, f"user{n}@example.com", "Summer2026!", REMOTE_ADDR="203.0.113.66")
    assert not _login(sprayer, "target@example.com", "right-pass-123", REMOTE_ADDR="203.0.113.66")
    assert _login(Client(), "target@example.com", "right-pass-123", REMOTE_ADDR="198.51.100.7")


def test_the_erasure_password_check_is_throttled(client, member, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    user = User.objects.create_user(email=member.email, password="pw-12345-abc")
    Member.objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    url = reverse("members:privacy")
    for _ in range(3):
        client.post(url, {"password": "guess", "confirm": "on"})
    response = client.post(url, {"password": "pw-12345-abc", "confirm": "on"})
    assert response.status_code == 200
    assert "Too many wrong passwords" in response.content.decode()
    member.refresh_from_db()
    assert member.erased_at is None


def test_reset_and_signup_mails_to_one_address_are_limited(client, member, settings, committed):
    settings.CARAT_ACCOUNT_MAILS_PER_HOUR = 3
    with committed():
        member_invite(member=member)  # the first of the three
        for _ in range(5):
            client.post(reverse("members:password_reset"), {"email": member.email})
            join(Client(), member.email)
    assert len(mail.outbox) == 3
    assert {m.to[0] for m in mail.outbox} == {member.email}


# --- SMS opt-in: the same carats on every channel ------------------------------------


def test_the_web_and_the_api_enrolment_give_the_same_carats(client, program):
    ActionRule.objects.create(name="Welcome", action=ActionType.SIGNUP, carats=100)
    ActionRule.objects.create(name="Texts welcome", action=ActionType.SMS_OPT_IN, carats=25)
    join(client, "web@example.com", sms_opt_in="on")
    _key, plain = api_key_create(name="web shop")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    response = api.post(
        "/api/v1/members/",
        {"email": "api@example.com", "first_name": "Api", "last_name": "Shop", "sms_opt_in": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    web = Member.objects.get(email="web@example.com")
    via_api = Member.objects.get(email="api@example.com")
    assert web.sms_opt_in and via_api.sms_opt_in
    assert web.balance == via_api.balance
    assert web.balance == via_api.balance == 100 + 25


def test_a_login_opened_in_the_console_and_closed_again_stays_closed(client, member, committed):
    """The administrator opens a member's waiting login, later closes it: from then on
    only the console reopens it."""
    invited = member_invite(member=member)
    admin = User.objects.create_superuser(email="root@example.com", password="root-pass-123")
    client.force_login(admin)
    url = reverse("admin:members_user_change", args=[invited.pk])
    form = {
        "email": invited.email,
        "full_name": invited.full_name,
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    response = client.post(url, {**form, "is_active": "on", "pending_activation": "on"})
    assert response.status_code == 302
    invited.refresh_from_db()
    assert invited.is_active and not invited.pending_activation
    assert client.post(url, form).status_code == 302  # closed again
    client.logout()
    with committed():
        client.post(reverse("members:password_reset"), {"email": member.email})
    assert mail.outbox == []
    invited.refresh_from_db()
    assert not invited.is_active


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_only_never_opened_member_logins_as_waiting():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("members", "0007_lean_sale_indexes")])
    apps = executor.loader.project_state([("members", "0007_lean_sale_indexes")]).apps
    OldUser, OldMember = apps.get_model("members", "User"), apps.get_model("members", "Member")

    def login(email, **fields):
        user = OldUser.objects.create(email=email, password="!", **fields)
        OldMember.objects.create(
            member_number=str(1000000000 + user.pk), email=email, user=user, qr_token=email
        )
        return user.pk

    waiting = login("till@example.com", is_active=False)
    closed = login("closed@example.com", is_active=False, last_login="2026-01-01T00:00Z")
    staff = login("staff@example.com", is_active=False, is_staff=True)
    active = login("open@example.com", is_active=True)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    try:
        executor.migrate([("members", "0008_user_pending_activation")])
        pending = dict(User.objects.values_list("pk", "pending_activation"))
        assert pending[waiting] is True
        assert not any(pending[pk] for pk in (closed, staff, active))
    finally:
        # Back to the latest schema for the tests that follow (later migrations too).
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
