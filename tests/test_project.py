"""The project's commands: demo data, periodic tasks, migrations, ledger verification."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_celery_beat.models import PeriodicTask

from members.models import LedgerEntry, Member, User
from pos.models import Purchase
from tests.helpers import assert_balance_matches_ledger


def test_loaddemo_is_idempotent_and_creates_the_demo_logins(db, settings):
    settings.DEBUG = True
    call_command("loaddemo", members=12)
    counts = (Member.objects.count(), Purchase.objects.count(), LedgerEntry.objects.count())
    call_command("loaddemo", members=12)
    assert (Member.objects.count(), Purchase.objects.count(), LedgerEntry.objects.count()) == counts
    marketing = User.objects.get(email="marketing@carat.example")
    assert marketing.is_staff and marketing.check_password("carat-demo")
    shop = User.objects.get(email="shop@carat.example")
    assert not shop.is_staff and shop.stores.filter(code="antwerp").exists()
    member = Member.objects.get(email="member@carat.example")
    assert member.user.check_password("carat-demo")
    assert member.purchases.count() == 3
    for m in Member.objects.all():
        assert_balance_matches_ledger(m)


def test_loaddemo_refuses_without_debug(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("loaddemo", members=1)
    assert not User.objects.exists()


def test_setup_periodic_tasks_is_idempotent(db):
    call_command("setup_periodic_tasks")
    call_command("setup_periodic_tasks")
    tasks = sorted(PeriodicTask.objects.values_list("task", flat=True))
    assert tasks == [
        "campaigns.birthdays",
        "campaigns.choose_variant_winners",
        "campaigns.club_reminders",
        "campaigns.dispatch_messages",
        "campaigns.expire_carats",
        "campaigns.expire_challenges",
        "campaigns.release_pending",
        "campaigns.select_triggers",
        "loyalty.deliver_webhooks",
        "loyalty.kpi_rollup",  # hourly, incremental
        "loyalty.kpi_rollup",  # nightly, in full
        "loyalty.outbox_flush",
        "loyalty.warm_dashboard",
        "members.predictions",
        "pos.popular_products",
        "tiers.evaluate_all",
    ]


def test_models_and_migrations_agree(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_verify_ledger_fails_on_a_mismatch(member):
    call_command("verify_ledger")
    Member.objects.filter(pk=member.pk).update(balance=7)
    with pytest.raises(CommandError):
        call_command("verify_ledger")


def test_web_processes_skip_the_connection_check_and_workers_make_it(monkeypatch):
    from django.conf import settings

    from loyalty.celery import workers_check_connections

    monkeypatch.delenv("DATABASE_CONN_HEALTH_CHECKS", raising=False)
    monkeypatch.setitem(settings.DATABASES["default"], "CONN_HEALTH_CHECKS", False)
    workers_check_connections(sender="worker@test")
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    # An explicit setting wins, for web and workers alike.
    monkeypatch.setenv("DATABASE_CONN_HEALTH_CHECKS", "false")
    monkeypatch.setitem(settings.DATABASES["default"], "CONN_HEALTH_CHECKS", False)
    workers_check_connections(sender="worker@test")
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is False


def test_database_settings_prepare_on_postgresql_only_and_skip_the_check(monkeypatch):
    from loyalty.settings import database

    monkeypatch.delenv("DATABASE_CONN_HEALTH_CHECKS", raising=False)
    monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS", raising=False)
    pg = database("postgres://carat@db.internal:5432/carat")
    assert pg["CONN_HEALTH_CHECKS"] is False and pg["OPTIONS"]["prepare_threshold"] == 5
    lite = database("sqlite:///carat.sqlite3")
    assert "prepare_threshold" not in lite["OPTIONS"] and lite["CONN_MAX_AGE"] == 0
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")
    assert "prepare_threshold" not in database("postgres://carat@db/carat").get("OPTIONS", {})
