"""Carat settings. Everything that differs between machines comes from the environment.

The embedded default (no variables set) is a development setup on SQLite with a
filesystem broker, so `make run` needs no server. Production sets DJANGO_DEBUG=false,
which makes SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL mandatory.
"""

from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DJANGO_DEBUG", default=True)


def database(url: str) -> dict:
    """The default database from its URL, with the connection settings of every process."""
    db = env.db_url_config(url)
    db["ATOMIC_REQUESTS"] = False
    db["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    # No SELECT 1 before each request's first query: it was one more round trip on every
    # till request. After a database restart each web process answers one request 503
    # (Retry-After; DatabaseUnavailableMiddleware) and reconnects on the next.
    db["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # Web, worker and beat share one SQLite file in `make run`: wait for locks.
        db["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
        db["CONN_MAX_AGE"] = 0
    elif env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        # Only server-binding cursors prepare: the till's hot statements (loyalty.hot_sql).
        # Django's own queries bind on the client and are never prepared.
        db.setdefault("OPTIONS", {})["prepare_threshold"] = 5
    return db


if DEBUG:
    SECRET_KEY = env(
        "DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdef"
    )
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"])
    DATABASES = {
        "default": database(env("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))
    }
else:
    # Production fails fast on a missing secret instead of running with a default.
    SECRET_KEY = env("DJANGO_SECRET_KEY")
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
    DATABASES = {"default": database(env("DATABASE_URL"))}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "members",
    "tiers",
    "campaigns",
    "pos",
    "loyalty",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "loyalty.security.ContentSecurityPolicyMiddleware",
    "loyalty.security.DatabaseUnavailableMiddleware",
]
# API requests (API_PREFIX) authenticate with API keys: sessions, CSRF, messages, the
# language of a visitor and static files have nothing to do there. loyalty.wsgi serves
# them through this shorter stack (about a tenth of a scan's CPU, profiled).
API_PREFIX = "/api/v1/"
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "loyalty.security.ContentSecurityPolicyMiddleware",
    "loyalty.security.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "loyalty.urls"
WSGI_APPLICATION = "loyalty.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = ["loyalty.security.ThrottledModelBackend"]
LOGIN_FAILURE_LIMIT = env.int("CARAT_LOGIN_FAILURE_LIMIT", default=10)
LOGIN_FAILURE_WINDOW = env.int("CARAT_LOGIN_FAILURE_WINDOW", default=900)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "members:login"
LOGIN_REDIRECT_URL = "members:home"
LOGOUT_REDIRECT_URL = "members:login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("nl", "Nederlands"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("CARAT_TIME_ZONE", default="Europe/Brussels")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The admin (marketing's CRM console) path can be moved off the default in production.
ADMIN_PATH = env("CARAT_ADMIN_PATH", default="admin/").strip("/") + "/"

# E-mail: printed to the console in development; EMAIL_URL (SMTP, or filemail://path) in
# production; EMAIL_BACKEND, when set, wins (e.g. a django-anymail provider).
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
if not DEBUG or env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=EMAIL_FILE_PATH)
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default=vars().get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"),
)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Diamond Club <club@carat.example>")
# Any provider through django-anymail: EMAIL_BACKEND=anymail.backends.<provider>.EmailBackend
# and its credentials as JSON, e.g. ANYMAIL='{"MAILGUN_API_KEY": "..."}'.
ANYMAIL = env.json("ANYMAIL", default={})

# Celery: Redis (or any broker) in production; a filesystem queue in development.
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["pos.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["pos.api_auth.HasApiKey"],
    "DEFAULT_SCHEMA_CLASS": "pos.api_schema.ScopedAutoSchema",
    "EXCEPTION_HANDLER": "loyalty.api_errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["pos.api_auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env("CARAT_API_RATE", default="6000/min"),
        "lookup": env("CARAT_LOOKUP_RATE", default="600/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "loyalty.api_errors.ApiPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Carat API",
    "DESCRIPTION": "Loyalty API for tills, the web shop and the ERP.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Business settings.
CARAT_FUTURE_TOLERANCE_MINUTES = env.int("CARAT_FUTURE_TOLERANCE_MINUTES", default=10)
# How far back a sale sent through the API may be dated: a till's key, and an integration
# key (web shop, ERP) that replays history. Older sales go through the history import.
CARAT_SALE_MAX_AGE_DAYS = env.int("CARAT_SALE_MAX_AGE_DAYS", default=30)
CARAT_SALE_MAX_AGE_DAYS_INTEGRATION = env.int("CARAT_SALE_MAX_AGE_DAYS_INTEGRATION", default=400)
CARAT_SITE_URL = env("CARAT_SITE_URL", default="http://127.0.0.1:8000")
CARAT_CONFIG_CACHE_SECONDS = env.int("CARAT_CONFIG_CACHE_SECONDS", default=5)
# The dashboard reads the KPI rollups while the last run is younger than this (seconds).
CARAT_KPI_ROLLUP_MAX_AGE = env.int("CARAT_KPI_ROLLUP_MAX_AGE", default=3 * 3600)
# Connections the rollup job reads and computes on (2: one snapshot shared by two; 1: one
# REPEATABLE READ transaction, as inside a caller's transaction).
CARAT_KPI_ROLLUP_WORKERS = env.int("CARAT_KPI_ROLLUP_WORKERS", default=2)
CARAT_EUR_PER_CARAT = Decimal(env("CARAT_EUR_PER_CARAT", default="0.05"))
CARAT_MAIL_DOMAIN = env("CARAT_MAIL_DOMAIN", default="carat.example")
CARAT_SENDING_TIMEOUT_SECONDS = env.int("CARAT_SENDING_TIMEOUT_SECONDS", default=900)

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
