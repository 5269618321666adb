"""Carat settings. Everything that differs between machines comes from the environment.

The default (no variables set) is production: DEBUG off, and DJANGO_SECRET_KEY,
DJANGO_ALLOWED_HOSTS and DATABASE_URL mandatory, so a deploy that forgets a variable fails
at start instead of running with a development key. Development says so explicitly with
DJANGO_DEBUG=true (`make run` and the test settings do): SQLite, a filesystem broker and
a development key, so `make run` needs no server.
"""

from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DJANGO_DEBUG", default=False)


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
        # Only server-binding cursors prepare: the till's hot statements (loyalty.kernel.hot_sql).
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

# A streaming replica for the console's reads (loyalty/kernel/replica.py): the dashboard,
# KPIs and exports read there while it is at most CARAT_REPLICA_MAX_LAG_SECONDS behind
# (asked every CARAT_REPLICA_CHECK_SECONDS); writes and everything else use the primary.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = database(env("DATABASE_REPLICA_URL"))
    # A replica that is down must not hold a console page: give up connecting quickly.
    DATABASES["replica"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
        "DATABASE_REPLICA_CONNECT_TIMEOUT", default=2
    )
DATABASE_ROUTERS = ["loyalty.kernel.replica.ReplicaRouter"]
CARAT_REPLICA_MAX_LAG_SECONDS = env.float("CARAT_REPLICA_MAX_LAG_SECONDS", default=30)
CARAT_REPLICA_CHECK_SECONDS = env.float("CARAT_REPLICA_CHECK_SECONDS", default=5)

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
    "loyalty.kernel.security.ContentSecurityPolicyMiddleware",
    "loyalty.kernel.security.DatabaseUnavailableMiddleware",
]
# API requests (API_PREFIX) authenticate with API keys: sessions, CSRF, messages, the
# language of a visitor and static files have nothing to do there. loyalty.wsgi serves
# them through this shorter stack (about a tenth of a scan's CPU, profiled).
API_PREFIX = "/api/v1/"
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "loyalty.kernel.security.ContentSecurityPolicyMiddleware",
    "loyalty.kernel.security.DatabaseUnavailableMiddleware",
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
                "campaigns.context_processors.brand",
            ],
        },
    },
]

AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = ["loyalty.kernel.security.ThrottledModelBackend"]
LOGIN_FAILURE_LIMIT = env.int("CARAT_LOGIN_FAILURE_LIMIT", default=10)
LOGIN_FAILURE_WINDOW = env.int("CARAT_LOGIN_FAILURE_WINDOW", default=900)
# Failures per (address, account) before the first wait of LOGIN_FAILURE_DELAY seconds
# (doubled at each further failure); failures per address that block only that address.
LOGIN_FAILURE_DELAY = env.int("CARAT_LOGIN_FAILURE_DELAY", default=30)
LOGIN_FAILURE_ADDRESS_LIMIT = env.int("CARAT_LOGIN_FAILURE_ADDRESS_LIMIT", default=100)
# Proxies in front of the app that append to X-Forwarded-For (0: the peer is the client).
CARAT_TRUSTED_PROXIES = env.int("CARAT_TRUSTED_PROXIES", default=0)
# Account mails (verification, invitation, password reset) per address and per hour.
CARAT_ACCOUNT_MAILS_PER_HOUR = env.int("CARAT_ACCOUNT_MAILS_PER_HOUR", default=5)
# Joining at the counter: how long a store's join code works (minutes), and how long the
# double opt-in link for the marketing e-mails does (days).
CARAT_JOIN_LINK_MINUTES = env.int("CARAT_JOIN_LINK_MINUTES", default=120)
CARAT_CONSENT_LINK_DAYS = env.int("CARAT_CONSENT_LINK_DAYS", default=14)
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
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGES = [("en", "English"), ("nl", "Nederlands"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Display formats of en and nl as in Belgium and the UK (en-GB, nl-BE): see loyalty/formats.
FORMAT_MODULE_PATH = ["loyalty.formats"]
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
# The provider whose tracking webhook /m/esp/tracking/ receives (bounces, complaints,
# deliveries; see campaigns.esp). The webhook needs ANYMAIL["WEBHOOK_SECRET"] ("user:pass").
CARAT_ESP = env("CARAT_ESP", default="postmark")

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
# Every task has time limits (seconds): a task stuck on a network call or a lock is
# interrupted (soft: an exception it can clean up after; hard: the worker process is
# replaced) instead of holding a worker for ever. Long jobs (the KPI rollups, the nightly
# tier evaluation) set larger limits of their own on the task.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
# The long set-based jobs, soft limit in seconds (hard: 5 minutes more); sized for tens
# of millions of members (the rollups take 10-40 minutes at 17M, see the README).
_LONG_JOBS = {
    "loyalty.kpi_rollup": 2 * 3600,
    "loyalty.warm_dashboard": 1800,
    "tiers.evaluate_all": 2 * 3600,
    "campaigns.expire_carats": 2 * 3600,
    "campaigns.select_triggers": 3600,
    "campaigns.birthdays": 3600,
    "campaigns.release_pending": 3600,
    "members.predictions": 3600,
}
CELERY_TASK_ANNOTATIONS = {
    name: {"soft_time_limit": soft, "time_limit": soft + 300} for name, soft in _LONG_JOBS.items()
}

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["pos.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["pos.api_auth.HasApiKey"],
    "DEFAULT_SCHEMA_CLASS": "pos.api_schema.ScopedAutoSchema",
    "EXCEPTION_HANDLER": "loyalty.kernel.api_errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["pos.api_auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env("CARAT_API_RATE", default="6000/min"),
        "lookup": env("CARAT_LOOKUP_RATE", default="600/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "loyalty.kernel.api_errors.ApiPagination",
    "PAGE_SIZE": 50,
    # The API's client address comes from the same trusted proxies as the login
    # throttles' (DRF's default, None, takes a forged X-Forwarded-For as it is).
    "NUM_PROXIES": CARAT_TRUSTED_PROXIES,
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
# The address in every link a mail carries (mails are sent by workers, which have no request
# to read it from). Development: the port `make run` serves on (CARAT_RUN_PORT, which the
# Makefile passes to every process: honcho gives each process its own PORT). Production:
# https on the first host name of DJANGO_ALLOWED_HOSTS, or CARAT_SITE_URL when set.
if DEBUG:
    _site_default = f"http://127.0.0.1:{env.int('CARAT_RUN_PORT', default=8000)}"
else:
    _named = [h for h in ALLOWED_HOSTS if h and h != "*" and not h.startswith(".")]
    _site_default = f"https://{_named[0]}" if _named else environ.Env.NOTSET
CARAT_SITE_URL = env("CARAT_SITE_URL", default=_site_default).rstrip("/")
CARAT_CONFIG_CACHE_SECONDS = env.int("CARAT_CONFIG_CACHE_SECONDS", default=5)
# The dashboard reads the KPI rollups while the last run is younger than this (seconds).
CARAT_KPI_ROLLUP_MAX_AGE = env.int("CARAT_KPI_ROLLUP_MAX_AGE", default=3 * 3600)
# Connections the rollup job reads and computes on (2: one snapshot shared by two; 1: one
# REPEATABLE READ transaction, as inside a caller's transaction).
CARAT_KPI_ROLLUP_WORKERS = env.int("CARAT_KPI_ROLLUP_WORKERS", default=2)
# The nightly predictions (members.predictions): members in the fitting sample, the
# L2 pull on the log-parameters, and the annual rate the 12-month CLV is discounted at.
CARAT_PREDICTION_SAMPLE = env.int("CARAT_PREDICTION_SAMPLE", default=100_000)
CARAT_PREDICTION_PENALIZER = env.float("CARAT_PREDICTION_PENALIZER", default=0.0)
CARAT_CLV_ANNUAL_DISCOUNT = env.float("CARAT_CLV_ANNUAL_DISCOUNT", default=0.0)

# Before its snapshot a run waits at most this long for the transactions open when it read
# its marks (loyalty/console/rollup_state.py); longer ones are counted by the next run.
CARAT_KPI_ROLLUP_SETTLE_SECONDS = env.float("CARAT_KPI_ROLLUP_SETTLE_SECONDS", default=5)
CARAT_EUR_PER_CARAT = Decimal(env("CARAT_EUR_PER_CARAT", default="0.05"))
CARAT_MAIL_DOMAIN = env("CARAT_MAIL_DOMAIN", default="carat.example")
CARAT_SENDING_TIMEOUT_SECONDS = env.int("CARAT_SENDING_TIMEOUT_SECONDS", default=900)
# Lifetimes of the signed links in mails: the open pixel and tracked links, and the
# unsubscribe link (an expired one leads to the log-in and the profile's preferences).
CARAT_TRACK_TOKEN_DAYS = env.int("CARAT_TRACK_TOKEN_DAYS", default=180)
# The thank-you questionnaire's signed link (campaigns.questionnaire).
CARAT_QUESTIONNAIRE_LINK_DAYS = env.int("CARAT_QUESTIONNAIRE_LINK_DAYS", default=30)
CARAT_UNSUBSCRIBE_TOKEN_DAYS = env.int("CARAT_UNSUBSCRIBE_TOKEN_DAYS", default=400)

# Outbound webhooks: https only unless this says otherwise (allowed in development).
CARAT_WEBHOOK_ALLOW_HTTP = env.bool("CARAT_WEBHOOK_ALLOW_HTTP", default=DEBUG)
# Loopback, private, link-local and reserved addresses are refused (loyalty.kernel.outbound);
# networks listed here (CIDRs, e.g. an ERP on the company network) are allowed on purpose.
CARAT_WEBHOOK_ALLOWED_NETWORKS = env.list("CARAT_WEBHOOK_ALLOWED_NETWORKS", default=[])

# The card in the phone's wallet (members/wallet). Apple: the pass type and team of the
# brand's Apple developer account, the pass signing certificate and key (PEM) and Apple's
# WWDR intermediate certificate (PEM). Unset in development, `manage.py wallet_dev_certs`
# (run by `make run`) makes a development CA and certificate under var/wallet-dev: the
# whole path works on a laptop, but a phone does not accept that signature.
_WALLET_DEV = VAR_DIR / "wallet-dev"
CARAT_WALLET_PASS_TYPE_ID = env("CARAT_WALLET_PASS_TYPE_ID", default="pass.example.carat.dev")
CARAT_WALLET_TEAM_ID = env("CARAT_WALLET_TEAM_ID", default="DEVTEAM000")
CARAT_WALLET_ORGANIZATION = env("CARAT_WALLET_ORGANIZATION", default="Carat Diamond Club")
CARAT_WALLET_CERT = env("CARAT_WALLET_CERT", default=str(_WALLET_DEV / "pass.pem") if DEBUG else "")
CARAT_WALLET_KEY = env("CARAT_WALLET_KEY", default=str(_WALLET_DEV / "pass.key") if DEBUG else "")
CARAT_WALLET_KEY_PASSWORD = env("CARAT_WALLET_KEY_PASSWORD", default="")
CARAT_WALLET_WWDR_CERT = env(
    "CARAT_WALLET_WWDR_CERT", default=str(_WALLET_DEV / "ca.pem") if DEBUG else ""
)
# The pass web service the devices call (Apple wants https in production).
CARAT_WALLET_WEB_SERVICE_URL = env(
    "CARAT_WALLET_WEB_SERVICE_URL", default=CARAT_SITE_URL.rstrip("/") + "/wallet/apple"
)
# APNs (HTTP/2, token auth): fixed host, the .p8 key of the team and its key id. Without
# a key no push is sent (the devices still get the new card when they ask for it).
CARAT_APNS_URL = env("CARAT_APNS_URL", default="https://api.push.apple.com")
CARAT_APNS_KEY = env("CARAT_APNS_KEY", default="")
CARAT_APNS_KEY_ID = env("CARAT_APNS_KEY_ID", default="")
CARAT_APNS_CA_FILE = env("CARAT_APNS_CA_FILE", default="")  # only to trust a private test CA
CARAT_APNS_TIMEOUT = env.float("CARAT_APNS_TIMEOUT", default=10.0)
# Google Wallet: the issuer id and the service account's JSON key file; the API's base
# URL is fixed (overridable only for a local stub in tests).
CARAT_GOOGLE_WALLET_ISSUER_ID = env("CARAT_GOOGLE_WALLET_ISSUER_ID", default="")
CARAT_GOOGLE_WALLET_SERVICE_ACCOUNT = env("CARAT_GOOGLE_WALLET_SERVICE_ACCOUNT", default="")
CARAT_GOOGLE_WALLET_API_URL = env(
    "CARAT_GOOGLE_WALLET_API_URL", default="https://walletobjects.googleapis.com/walletobjects/v1"
)
CARAT_GOOGLE_WALLET_TOKEN_URL = env(
    "CARAT_GOOGLE_WALLET_TOKEN_URL", default="https://oauth2.googleapis.com/token"
)
CARAT_GOOGLE_WALLET_NOTIFICATIONS_PER_DAY = 3  # Google's limit per pass

# Behind a proxy that terminates TLS: the header it sets (and strips from clients), as
# "HTTP_X_FORWARDED_PROTO,https". Unset, a client cannot claim https with a header.
if _proxy_header := env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[]):
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_header)

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
