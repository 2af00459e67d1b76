"""Absurd Control settings. Everything that differs between machines comes from
the environment; see docs/deploy.md for the full list.

Production is the default: DEBUG is off, cookies are secure, and the process
refuses to start without a SECRET_KEY. ``make run`` sets DEBUG=true.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
import django
from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str
from plugins.discovery import discover_plugin_apps

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (DEBUG is off, so no "
            "development key is used)."
        )
    # Development only: a per-checkout random key, kept so sessions survive restarts.
    path = DATA_DIR / "dev-secret-key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
BASE_URL = env_str("BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# Plugins: the PLUGINS setting plus the absurd_control.plugins entry point group. The email
# notifier is a plugin too: leaving plugins.email_notify out means approvers get no email.
# The demo plugin is not in the default: its tasks let any operator spawn demo work (one
# sends email to any address). `make run` (manage.py devserver) and the tests add it.
PLUGINS = env_list("PLUGINS", ["plugins.email_notify", "plugins.metrics"])
PLUGIN_APPS = discover_plugin_apps(PLUGINS)
# What `manage.py devserver` adds for its children, and the commands it runs first (after
# migrate): the composition root names them, so the dashboard's command names no plugin.
DEV_PLUGINS = env_list("DEV_PLUGINS", ["plugins.demo"])
DEV_SETUP_COMMANDS = env_list("DEV_SETUP_COMMANDS", ["bootstrap_demo"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "ninja",
    # Django's Tasks API: the django-tasks backport on 5.2 (its signals and checks);
    # Django 6 has django.tasks built in.
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "absurd_core",
    "tenants",
    "approvals",
    "dashboard",
    *PLUGIN_APPS,
]

# Django's Tasks API runs on Absurd: some_task.enqueue() spawns through absurd_core.spawn
# (docs/django_tasks.md). QUEUES empty: any queue that exists. OPTIONS: TENANT (the tenant of
# enqueues made outside enqueue_options() and outside a task), MAX_ATTEMPTS, RETRY.
TASKS = {
    "default": {
        "BACKEND": "absurd_core.django_tasks.AbsurdBackend",
        "QUEUES": [],
        "OPTIONS": {},
    }
}

MIDDLEWARE = [
    # Outermost of all, so that it sees every response (problem details included): no-store
    # when the request was signed in or carried credentials (config/no_store.py).
    "config.no_store.NoStoreMiddleware",
    # Outermost: every error under /api/ leaves as RFC 9457 problem details.
    "config.api.problems.ApiProblemMiddleware",
    "config.api.url_limit.UrlLengthMiddleware",
    "config.api.nul_guard.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Innermost: reads from the replica when one is configured (config/replica.py).
    "config.replica.ReplicaReadsMiddleware",
]

ROOT_URLCONF = "config.urls"
# Request bodies over this many bytes are refused (the API answers 413). Django
# applies it to every request body it reads, forms included.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
# API URLs (path and query string) over this many bytes are refused with a 414 problem
# (config/api/url_limit.py); gunicorn.conf.py lets URLs up to 8190 bytes reach Django.
API_MAX_URL_BYTES = env_int("API_MAX_URL_BYTES", 4096)
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "dashboard.context_processors.navigation",
                "dashboard.context_processors.tenant_switcher",
                "dashboard.context_processors.nav_access",
                "dashboard.replica_banner.replica_lag",
            ],
        },
    },
]

# Database: DATABASE_URL, or the embedded server under .data/postgres.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")
    EMBEDDED_DATABASE = None
else:
    from config.embedded_db import attach

    EMBEDDED_DATABASE = attach(BASE_DIR)
    DATABASES = {"default": EMBEDDED_DATABASE.django_settings()}

# Server-side parameter binding, and psycopg's automatic prepared statements (Django
# turns them off by default): a statement a connection has run 5 times is prepared,
# so PostgreSQL parses and plans the API's hot statements once per connection rather
# than on every request (docs/deploy.md, "Database and migrations").
DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)

# A connection pooler in front of the web processes (docs/scaling.md, "A connection pooler"):
# "transaction" (PgBouncer's transaction mode before 1.21, which cannot carry prepared
# statements) turns server-side prepared statements and binding off; "session" or unset
# changes nothing. A system check refuses a transaction-mode PgBouncer it detects otherwise.
DATABASE_POOLER = env_str("DATABASE_POOLER").strip().lower()
if DATABASE_POOLER not in ("", "none", "session", "transaction"):
    raise ImproperlyConfigured(
        f"DATABASE_POOLER={DATABASE_POOLER!r}: use transaction, session or none."
    )
if DATABASE_POOLER == "transaction":
    DATABASES["default"]["OPTIONS"].update(server_side_binding=False, prepare_threshold=None)

# A streaming read replica for dashboard and API reads (docs/scaling.md, "A read replica"):
# a second alias, "replica"; config/replica.py routes reads there and keeps writes, and the
# reads that follow them, on the primary. Pages say how far behind it is past
# REPLICA_LAG_BANNER_SECONDS.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=60),
        "OPTIONS": dict(DATABASES["default"]["OPTIONS"]),
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["config.replica.ReplicaRouter"]
REPLICA_LAG_BANNER_SECONDS = env_int("REPLICA_LAG_BANNER_SECONDS", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Security: safe by default, relaxed only by DEBUG or explicit settings.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers probe the backend over plain HTTP: the health check answers there too
# (SecurityMiddleware matches these against the path without its leading slash).
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
# Both only take effect with SECURE_HSTS_SECONDS > 0. includeSubDomains covers the names under
# the host that serves the site, not its siblings; preload is a request to be put in browsers'
# built-in lists, hard to undo, so it is opt-in (docs/deploy.md).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Checks accepted knowingly, e.g. security.W021 when HSTS preload is deliberately off, so that
# `check --deploy --fail-level WARNING` can still gate a deploy.
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])
if env_bool("BEHIND_HTTPS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts and styles only from our own static files. The
# templates have no inline script, no event-handler attribute and no style attribute; a page
# that needs an inline script gives it nonce="{{ request.csp_nonce }}", and only a page that
# reads the nonce gets one in its header. The approval pages allow no nonce at all
# (approvals/views.py). Bootstrap's CSS draws its icons from data: SVGs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "frame-ancestors": [csp.NONE],
        "form-action": [csp.SELF],
    },
}

# Email: console in development, SMTP otherwise; everything overridable.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "absurd-control@localhost")

# Metrics plugin (docs/metrics.md): the bearer token a scrape of /metrics must send; unset,
# only loopback clients may scrape. Approval latency is computed over this many seconds.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_APPROVAL_WINDOW = env_int("METRICS_APPROVAL_WINDOW", 3600)

# Workers (docs/worker.md#liveness): a dead or stopped worker is listed this many seconds
# after it was last heard of, then hidden (an admin may remove it sooner).
ABSURD_DEAD_WORKER_RETENTION = env_int("DEAD_WORKER_RETENTION", 24 * 3600)

# Runs search (docs/api.md, docs/dashboard.md): a search on params or headers values only
# reads this many of the newest tasks a page (there is no index on params).
ABSURD_SEARCH_WINDOW = env_int("SEARCH_WINDOW", 20_000)

# Approvals (docs/approvals.md). Notifiers come from plugins (docs/notifiers.md); this names
# extra notifier classes, used before the plugins' ones.
APPROVAL_NOTIFIERS = env_list("APPROVAL_NOTIFIERS", [])
#: Reminders before a request expires, in seconds (e.g. "86400,3600"); each sent once.
APPROVAL_REMINDERS = [int(v) for v in env_list("APPROVAL_REMINDERS", [])]
#: Who approves demo.expense_approval when its params name nobody.
DEMO_APPROVERS = env_list("DEMO_APPROVERS", ["approver@example.com"])

# The webhook plugin, plugins.webhook_notify (docs/notifiers.md); used only when installed.
#: Where to POST; empty: the plugin sends nothing (and `manage.py check` warns).
WEBHOOK_NOTIFY_URL = env_str("WEBHOOK_NOTIFY_URL")
#: HMAC-SHA256 key of the X-Absurd-Signature header; empty: requests are not signed.
WEBHOOK_NOTIFY_SECRET = env_str("WEBHOOK_NOTIFY_SECRET")
#: Put approvers' single-use decision links in approval webhooks (they are credentials).
WEBHOOK_NOTIFY_INCLUDE_LINKS = env_bool("WEBHOOK_NOTIFY_INCLUDE_LINKS", False)
#: Seconds to wait for the receiver's answer.
WEBHOOK_NOTIFY_TIMEOUT = env_int("WEBHOOK_NOTIFY_TIMEOUT", 10)
#: Tenant to spawn every delivery task under (a platform tenant is exempt from spawn limits);
#: empty: the tenant the webhook is about.
WEBHOOK_NOTIFY_TENANT = env_str("WEBHOOK_NOTIFY_TENANT")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"debug_off": {"()": "django.utils.log.RequireDebugFalse"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # With DEBUG on, Django's own console handler prints these already.
        "errors": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "level": "ERROR",
            "filters": ["debug_off"],
        },
    },
    "loggers": {
        # Every 5xx with its traceback (Django logs 4xx here too, at WARNING: the handler
        # leaves them out). The logger keeps Django's level, so DEBUG's console still has them.
        "django.request": {"handlers": ["errors"]},
        # The API's own error log (config/api/problems.py: unhandled errors become 500 problems).
        "config": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
        "absurd_core": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
        "plugins": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    },
}
