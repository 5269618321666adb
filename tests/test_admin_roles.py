"""The console protected from its own users: each role (loyalty.kernel.roles, applied by
manage.py setup_roles) against the console pages it must and must not reach, and the
rows that keep the program correct, which no permission lets anyone but a superuser
delete."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from campaigns.models import MessageLog, Reward
from campaigns.services import message_claim
from loyalty.kernel import roles as role_defs
from loyalty.kernel.models import WebhookEndpoint
from members.models import LedgerEntry, User
from pos.models import ApiKey
from pos.services import api_key_create
from tests.factories import UserFactory
from tiers.models import Tier

MARKETING, MANAGER, STAFF, INTEGRATION = (
    role_defs.MARKETING,
    role_defs.STORE_MANAGER,
    role_defs.STORE_STAFF,
    role_defs.INTEGRATION_ADMIN,
)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def periodic_task(db):
    every_minute, _ = CrontabSchedule.objects.get_or_create(minute="*", hour="*")
    return PeriodicTask.objects.create(
        name="Deliver webhooks (retries)", task="loyalty.deliver_webhooks", crontab=every_minute
    )


@pytest.fixture
def people(console_user, antwerp, london):
    return {
        MARKETING: console_user(MARKETING),
        MANAGER: console_user(MANAGER, stores=[antwerp]),
        STAFF: console_user(STAFF, stores=[antwerp]),
        INTEGRATION: console_user(INTEGRATION),
    }


@pytest.fixture
def almighty(roles, db):
    """Console staff with every permission there is, but not a superuser."""
    user = UserFactory(email="almighty@example.com", is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    return User.objects.get(pk=user.pk)


# --- the roles themselves --------------------------------------------------------------


def test_setup_roles_is_idempotent_and_takes_back_permissions_added_by_hand(roles):
    group = Group.objects.get(name=MARKETING)
    before = set(group.permissions.values_list("pk", flat=True))
    group.permissions.add(Permission.objects.get(codename="add_periodictask"))
    call_command("setup_roles", stdout=StringIO())
    call_command("setup_roles", stdout=StringIO())
    assert set(group.permissions.values_list("pk", flat=True)) == before
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles_names())


def roles_names():
    return [MARKETING, MANAGER, STAFF, INTEGRATION]


def test_marketing_sees_no_plumbing(roles):
    perms = {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=MARKETING).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }
    assert "members.view_member" in perms and "campaigns.add_broadcast" in perms
    plumbing = [
        p
        for p in perms
        if p.startswith(("django_celery_beat.", "auth.", "loyalty."))
        or (
            p.split(".")[1].endswith(("_user", "_apikey", "_store"))
            and not p.endswith("view_store")
        )
    ]
    assert plumbing == []
    deletes = [p for p in perms if ".delete_" in p]
    for label in role_defs.SUPERUSER_DELETE_ONLY:
        app, model = label.split(".")
        assert f"{app}.delete_{model}" not in deletes


def test_setup_roles_grants_a_role_to_a_login(roles, antwerp):
    user = UserFactory(email="new.manager@example.com")
    call_command(
        "setup_roles",
        grant="new.manager@example.com",
        role=MANAGER,
        store=["antwerp"],
        stdout=StringIO(),
    )
    user.refresh_from_db()
    assert user.is_staff and user.groups.filter(name=MANAGER).exists()
    assert antwerp.staff.filter(pk=user.pk).exists()


def test_the_demo_logins_have_the_roles(db, settings):
    settings.DEBUG = True
    call_command("loaddemo", members=1, stdout=StringIO())
    for email, role in [
        ("marketing@carat.example", MARKETING),
        ("shop@carat.example", STAFF),
        ("manager@carat.example", MANAGER),
        ("integration@carat.example", INTEGRATION),
    ]:
        user = User.objects.get(email=email)
        assert list(user.groups.values_list("name", flat=True)) == [role], email
        assert user.is_staff == role_defs.ROLES[role].console, email


# --- each role against the console pages -----------------------------------------------

ALLOWED, DENIED = 200, 403
# page -> expected status per role (Store staff has no console: the login page, 302)
CELLS = {
    "django_celery_beat_periodictask_changelist": {
        MARKETING: DENIED,
        MANAGER: DENIED,
        INTEGRATION: DENIED,
    },
    "django_celery_beat_periodictask_add": {
        MARKETING: DENIED,
        MANAGER: DENIED,
        INTEGRATION: DENIED,
    },
    "campaigns_messagelog_changelist": {
        MARKETING: ALLOWED,
        MANAGER: DENIED,
        INTEGRATION: DENIED,
    },
    "pos_apikey_changelist": {MARKETING: DENIED, MANAGER: DENIED, INTEGRATION: ALLOWED},
    "pos_apikey_add": {MARKETING: DENIED, MANAGER: DENIED, INTEGRATION: ALLOWED},
    "loyalty_webhookendpoint_changelist": {
        MARKETING: DENIED,
        MANAGER: DENIED,
        INTEGRATION: ALLOWED,
    },
    "loyalty_webhookendpoint_add": {MARKETING: DENIED, MANAGER: DENIED, INTEGRATION: ALLOWED},
    "loyalty_webhookdelivery_changelist": {
        MARKETING: DENIED,
        MANAGER: DENIED,
        INTEGRATION: ALLOWED,
    },
    "members_user_changelist": {MARKETING: DENIED, MANAGER: DENIED, INTEGRATION: DENIED},
    "auth_group_changelist": {MARKETING: DENIED, MANAGER: DENIED, INTEGRATION: DENIED},
    "tiers_tier_add": {MARKETING: ALLOWED, MANAGER: DENIED, INTEGRATION: DENIED},
    "pos_store_changelist": {MARKETING: ALLOWED, MANAGER: ALLOWED, INTEGRATION: ALLOWED},
    "pos_store_add": {MARKETING: DENIED, MANAGER: DENIED, INTEGRATION: DENIED},
    # The client book: marketing sees every store's, read-only; the counter writes it.
    "pos_clientnote_changelist": {MARKETING: ALLOWED, MANAGER: DENIED, INTEGRATION: DENIED},
    "pos_clientnote_add": {MARKETING: DENIED, MANAGER: DENIED, INTEGRATION: DENIED},
    "pos_appointment_changelist": {MARKETING: ALLOWED, MANAGER: DENIED, INTEGRATION: DENIED},
    "pos_wishlistitem_changelist": {MARKETING: ALLOWED, MANAGER: DENIED, INTEGRATION: DENIED},
    "pos_clientcontact_changelist": {MARKETING: ALLOWED, MANAGER: DENIED, INTEGRATION: DENIED},
    "pos_clientprofile_changelist": {MARKETING: ALLOWED, MANAGER: DENIED, INTEGRATION: DENIED},
}


@pytest.mark.parametrize(
    ("page", "role"),
    [(page, role) for page, by_role in CELLS.items() for role in [*by_role, STAFF]],
)
def test_console_cell(people, page, role):
    response = login(people[role]).get(url(page))
    expected = CELLS[page].get(role, 302)
    assert response.status_code == expected, (page, role, response.status_code)
    if expected == 302:
        assert "/login/" in response["Location"]


def test_marketing_cannot_schedule_a_task(people):
    response = login(people[MARKETING]).post(
        url("django_celery_beat_periodictask_add"),
        {"name": "mine", "task": "loyalty.deliver_webhooks", "args": "[]", "kwargs": "{}"},
    )
    assert response.status_code == 403
    assert not PeriodicTask.objects.filter(name="mine").exists()


# --- what keeps the program correct: a superuser's to delete ---------------------------


@pytest.fixture
def claim(member):
    return message_claim(member=member, trigger="thank_you", occasion="sale:1")


def test_nobody_but_a_superuser_deletes_message_logs_periodic_tasks_or_the_ledger(
    almighty, claim, periodic_task, member
):
    entry = LedgerEntry.objects.filter(member=member).first()
    client = login(almighty)
    for page, obj in [
        ("campaigns_messagelog", claim),
        ("django_celery_beat_periodictask", periodic_task),
    ]:
        assert client.get(url(f"{page}_delete", obj.pk)).status_code == 403, page
        assert client.post(url(f"{page}_delete", obj.pk), {"post": "yes"}).status_code == 403
        # ... nor from the list: the "delete selected" action is not offered, nor run.
        listing = client.get(url(f"{page}_changelist")).content.decode()
        assert "delete_selected" not in listing, page
        client.post(
            url(f"{page}_changelist"),
            {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
        )
        assert type(obj).objects.filter(pk=obj.pk).exists(), page
    if entry is not None:
        assert client.get(url("members_ledgerentry_delete", entry.pk)).status_code == 403
    root = User.objects.create_superuser(email="root@example.com", password="root-12345678")
    response = login(root).post(url("campaigns_messagelog_delete", claim.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not MessageLog.objects.filter(pk=claim.pk).exists()


def test_marketing_cannot_delete_message_logs(people, claim):
    client = login(people[MARKETING])
    assert client.post(url("campaigns_messagelog_delete", claim.pk), {"post": "yes"}).status_code
    assert MessageLog.objects.filter(pk=claim.pk).exists()


def test_a_tier_in_use_is_not_deleted_not_even_from_the_list(people, member, tiers):
    client = login(people[MARKETING])
    radiant = member.status.tier  # the member's tier
    ambassador = tiers["ambassador"]
    reward = Reward.objects.create(name="Private viewing", kind="experience", cost_carats=10)
    reward.tiers.set([ambassador])  # deleting the tier would open the reward to every tier
    spare = Tier.objects.create(code="spare", name="Spare", rank=9, threshold=99999)

    page = client.get(url("tiers_tier_delete", ambassador.pk)).content.decode()
    assert "in use" in page and "rewards" in page
    client.post(url("tiers_tier_delete", ambassador.pk), {"post": "yes"})
    client.post(
        url("tiers_tier_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [radiant.pk, ambassador.pk],
            "post": "yes",
        },
    )
    assert Tier.objects.filter(pk__in=[radiant.pk, ambassador.pk]).count() == 2
    assert list(reward.tiers.all()) == [ambassador]
    # An unused tier (made by mistake) can go.
    client.post(url("tiers_tier_delete", spare.pk), {"post": "yes"})
    assert not Tier.objects.filter(pk=spare.pk).exists()
    # Not even a superuser deletes a tier in use.
    root = User.objects.create_superuser(email="root@example.com", password="root-12345678")
    login(root).post(url("tiers_tier_delete", ambassador.pk), {"post": "yes"})
    assert Tier.objects.filter(pk=ambassador.pk).exists()


# --- API keys and stores ------------------------------------------------------------------


def test_a_till_keys_store_and_scope_cannot_be_changed(people, antwerp):
    key, _ = api_key_create(name="Till 1", store=antwerp)
    client = login(people[INTEGRATION])
    response = client.post(
        url("pos_apikey_change", key.pk),
        {"name": "Till 1", "store": "", "scope": "integration", "active": "on"},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.store_id == antwerp.pk
    assert key.scope == "till"


def test_the_integration_admin_makes_keys_and_marketing_does_not(people, antwerp):
    response = login(people[MARKETING]).post(url("pos_apikey_add"), {"name": "Mine", "store": ""})
    assert response.status_code == 403
    assert not ApiKey.objects.exists()
    response = login(people[INTEGRATION]).post(
        url("pos_apikey_add"),
        {"name": "Web shop", "store": "", "scope": "integration", "active": "on"},
    )
    assert response.status_code == 302
    assert ApiKey.objects.get().store is None


def staff_form(store, staff_ids):
    return {
        "code": store.code,
        "name": store.name,
        "city": store.city,
        "currency": store.currency,
        "time_zone": store.time_zone,
        "active": "on",
        "staff": [str(pk) for pk in staff_ids],
    }


def test_marketing_cannot_add_itself_to_a_store(people, london):
    me = people[MARKETING]
    response = login(me).post(url("pos_store_change", london.pk), staff_form(london, [me.pk]))
    assert response.status_code == 403
    assert not london.staff.filter(pk=me.pk).exists()


def test_a_store_manager_manages_their_own_stores_staff_only(people, antwerp, london):
    manager, clerk = people[MANAGER], UserFactory(email="new.clerk@example.com")
    client = login(manager)
    listing = client.get(url("pos_store_changelist")).content.decode()
    assert "Carat Antwerp" in listing and "Carat London" not in listing
    current = list(antwerp.staff.values_list("pk", flat=True))

    # Their own store: a shop assistant joins; the store's settings stay as they are.
    form = staff_form(antwerp, [*current, clerk.pk])
    form["currency"] = "USD"
    assert client.post(url("pos_store_change", antwerp.pk), form).status_code == 302
    antwerp.refresh_from_db()
    assert antwerp.staff.filter(pk=clerk.pk).exists() and antwerp.currency == "EUR"

    # Never a console login (a colleague, or themselves somewhere else).
    colleague = people[MARKETING]
    response = client.post(
        url("pos_store_change", antwerp.pk), staff_form(antwerp, [*current, colleague.pk])
    )
    assert response.status_code == 200  # the form again, with the error
    assert not antwerp.staff.filter(pk=colleague.pk).exists()

    # Another store is not theirs.
    client.post(url("pos_store_change", london.pk), staff_form(london, [manager.pk, clerk.pk]))
    assert not london.staff.exists()


def test_store_staff_have_no_console(people):
    response = login(people[STAFF]).get(url("index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_webhook_secrets_are_not_marketings(people):
    endpoint = WebhookEndpoint.objects.create(
        name="ERP", url="https://erp.example.com/hook", secret="whsec_topsecret"
    )
    response = login(people[MARKETING]).get(url("loyalty_webhookendpoint_change", endpoint.pk))
    assert response.status_code == 403
    assert b"whsec_topsecret" not in response.content
