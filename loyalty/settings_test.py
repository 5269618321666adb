"""Test settings: the real PostgreSQL (DATABASE_URL overrides the local default)."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")  # development mode, said explicitly
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/carat")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")

from .settings import *  # noqa: F403
from .settings import DATABASES, database, env

DATABASES["default"] = database(env("DATABASE_URL"))
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CARAT_CONFIG_CACHE_SECONDS = 0  # tests change the program between two sales
CELERY_TASK_EAGER_PROPAGATES = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# One test database per test run, so parallel runs on one machine do not drop each
# other's database (pytest-django destroys it at the end of the run). On SQLite
# (DATABASE_URL=sqlite://..., as `make run`) the test database is Django's in memory.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
    # The replica tests (tests/test_replica.py) read the test database on a second
    # connection under the 'replica' alias; reads go there only where a test turns
    # CARAT_REPLICA_READS on.
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
    DATABASES["replica"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {})}
    DATABASES["replica"]["OPTIONS"]["connect_timeout"] = 2
CARAT_REPLICA_READS = False
# The mail provider's tracking webhook (campaigns.esp) exists only with a secret.
ANYMAIL = {"WEBHOOK_SECRET": "esp:test-webhook-secret"}
CARAT_ESP = "postmark"
