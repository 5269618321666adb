from io import StringIO

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.utils import translation

from campaigns.services import member_enroll
from pos import api_auth
from tests.factories import StoreFactory, make_program, make_rate


@pytest.fixture
def fresh_cache():
    """An empty cache before and after the test: the API's idempotency records and rate
    counters live there."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts and ends in the site's default language: a page or mail rendered
    in Dutch must not leave the next test's messages in Dutch."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_rate_leases():
    """Each test starts with no API rate leases in this process (as a new web process
    does); the shared counters are the cache's, which tests clear themselves."""
    api_auth._leases.clear()
    yield
    api_auth._leases.clear()


@pytest.fixture
def program(db):
    return make_program()


@pytest.fixture
def tiers(program):
    return program


@pytest.fixture
def antwerp(db):
    return StoreFactory(code="antwerp", name="Carat Antwerp", currency="EUR")


@pytest.fixture
def london(db):
    return StoreFactory(code="london", name="Carat London", city="London", currency="GBP")


@pytest.fixture
def gbp(db):
    return make_rate("GBP", "1.170000")


@pytest.fixture
def member(program):
    return member_enroll(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def enroll(program):
    counter = iter(range(1_000_000))

    def _enroll(**kwargs):
        n = next(counter)
        kwargs.setdefault("email", f"m{n}@example.com")
        return member_enroll(**kwargs)

    return _enroll


@pytest.fixture
def roles(db):
    """The console's roles as production has them (loyalty.kernel.roles, manage.py setup_roles)."""
    call_command("setup_roles", stdout=StringIO())


@pytest.fixture
def console_user(roles):
    """A login with one of the roles: console_user("Store manager", stores=[antwerp])."""
    counter = iter(range(1_000_000))

    def _make(role, *, email=None, stores=()):
        from loyalty.kernel.roles import role_grant
        from members.models import User

        email = email or f"{role.lower().replace(' ', '-')}-{next(counter)}@example.com"
        user = User.objects.create_user(email=email, password="x-12345678")
        role_grant(user=user, role=role, stores=stores)
        return User.objects.get(pk=user.pk)  # no stale permission cache

    return _make


@pytest.fixture
def marketing(client, console_user):
    """A marketing login, signed in to the console."""
    user = console_user("Marketing", email="mkt@example.com")
    client.force_login(user)
    return user


from tests.browser import chromium, page_factory  # noqa: E402,F401 - pytest fixtures


@pytest.fixture(params=["sql", "orm"])
def sale_path(request, monkeypatch):
    """Run a test through both versions of the earn path's statements: the SQL one that
    PostgreSQL takes (prepared, loyalty.kernel.hot_sql) and the portable one that other
    databases (make run) take."""
    if request.param == "orm":
        monkeypatch.setattr("loyalty.kernel.hot_sql.available", lambda: False)
    return request.param


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgresql` (threads racing on row locks, statements written for
    PostgreSQL, the import and the rollup job) are skipped on any other database: the
    suite also runs on SQLite, as `make run` does (DATABASE_URL=sqlite:///...)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason=f"PostgreSQL only (this run is on {connection.vendor})")
    for item in items:
        if item.get_closest_marker("postgresql"):
            item.add_marker(skip)
