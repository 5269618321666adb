"""Settings are production-safe by default: development is asked for, never assumed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from members.models import Member, User

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, "
    "'lang_secure': s.LANGUAGE_COOKIE_SECURE, "
    "'proxy': list(getattr(s, 'SECURE_PROXY_SSL_HEADER', None) or []), "
    "'soft': s.CELERY_TASK_SOFT_TIME_LIMIT, 'hard': s.CELERY_TASK_TIME_LIMIT, "
    "'webhook_http': s.CARAT_WEBHOOK_ALLOW_HTTP, 'site': s.CARAT_SITE_URL}))"
)


def settings_with(**env) -> subprocess.CompletedProcess:
    """Import loyalty.settings in a fresh interpreter with exactly these variables."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "CARAT_", "CELERY_", "EMAIL_"))
    }
    clean.update(DJANGO_SETTINGS_MODULE="loyalty.settings", PYTHONPATH=str(ROOT), **env)
    return subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


PRODUCTION = {
    "DJANGO_SECRET_KEY": "k" * 50,
    "DJANGO_ALLOWED_HOSTS": "carat.example",
    "DATABASE_URL": "sqlite:///:memory:",
}


def test_a_deploy_that_forgets_the_variables_fails_instead_of_running_in_debug():
    result = settings_with()
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr  # fails fast on the missing secret


def test_without_djangodebug_the_settings_are_production():
    import json

    result = settings_with(**PRODUCTION)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["debug"] is False
    assert probe["hosts"] == ["carat.example"]
    assert probe["lang_secure"] is True
    assert probe["proxy"] == []  # a client cannot claim https unless a proxy is configured
    assert probe["webhook_http"] is False
    assert 0 < probe["soft"] < probe["hard"]


def test_mail_links_point_where_the_server_runs():
    import json

    # make run on another port: the Makefile hands that port to every process (honcho
    # gives each its own PORT, so the worker that mails cannot read it there).
    dry_run = subprocess.run(
        ["make", "-n", "run", "PORT=9123"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "CARAT_RUN_PORT=9123" in dry_run.stdout
    dev = json.loads(settings_with(DJANGO_DEBUG="true", CARAT_RUN_PORT="9123").stdout)
    assert dev["site"] == "http://127.0.0.1:9123"
    assert json.loads(settings_with(DJANGO_DEBUG="true").stdout)["site"] == "http://127.0.0.1:8000"
    # Production: the site's own host name, or the variable when it is set.
    assert json.loads(settings_with(**PRODUCTION).stdout)["site"] == "https://carat.example"
    chosen = settings_with(**PRODUCTION, CARAT_SITE_URL="https://club.carat.example/")
    assert json.loads(chosen.stdout)["site"] == "https://club.carat.example"
    unnamed = settings_with(**{**PRODUCTION, "DJANGO_ALLOWED_HOSTS": "*"})
    assert unnamed.returncode != 0 and "CARAT_SITE_URL" in unnamed.stderr


def test_development_is_asked_for_and_the_proxy_header_is_configured():
    import json

    dev = json.loads(settings_with(DJANGO_DEBUG="true").stdout)
    assert dev["debug"] is True and dev["lang_secure"] is False and dev["webhook_http"] is True
    behind_proxy = json.loads(
        settings_with(
            **PRODUCTION, DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https"
        ).stdout
    )
    assert behind_proxy["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.fixture
def logged_in(client, member):
    user = User.objects.create_user(email=member.email, password="pw-12345-abc")
    Member.objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    return member


def test_the_profiles_language_cookie_follows_the_settings(client, logged_in, settings):
    settings.LANGUAGE_COOKIE_SECURE = True
    response = client.post(
        reverse("members:profile"),
        {"first_name": "Ada", "last_name": "King", "language": "nl"},
    )
    assert response.status_code == 302
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "nl"
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"


def test_every_task_has_time_limits_and_long_jobs_larger_ones(settings):
    from loyalty.celery import app

    app.loader.import_default_modules()
    ours = {n: t for n, t in app.tasks.items() if not n.startswith("celery.")}
    assert "tiers.evaluate_all" in ours and "campaigns.send_messages" in ours
    # The app-wide limits apply to every task that sets none of its own.
    assert app.conf.task_soft_time_limit == settings.CELERY_TASK_SOFT_TIME_LIMIT > 0
    assert app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    for name in ("loyalty.kpi_rollup", "tiers.evaluate_all"):
        task = ours[name]
        assert task.soft_time_limit >= 3600, name
        assert task.time_limit > task.soft_time_limit, name
