"""The Celery app. Tasks live in each app's tasks.py and stay thin wrappers around services."""

import os

from celery import Celery
from celery.signals import celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

app = Celery("loyalty")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
def workers_check_connections(**kwargs):
    """Workers check a reused database connection before each task (one SELECT 1, cheap
    next to a task): a task that failed on a connection broken by a database restart
    would wait for its next schedule. Web processes skip the check (see the settings),
    unless DATABASE_CONN_HEALTH_CHECKS says otherwise for both."""
    from django.conf import settings

    if "DATABASE_CONN_HEALTH_CHECKS" not in os.environ:
        settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
