"""What every environment shares, all of it from the environment. local.py adds the
development defaults, production.py what production requires (it fails closed)."""

import os
from datetime import timedelta
from pathlib import Path

from kombu import Exchange, Queue

from core.env import env_bool, env_currency, env_email, env_float, env_int, env_list

from .database import database_settings, server_bounds_ms

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "accounts.admin_apps.AdminConfig",  # django.contrib.admin, its login throttled
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN)
    "django_celery_results",
    "django_celery_beat",
    # The project's own base: templates, commands, probes; it has no models.
    "core.apps.CoreConfig",
    "worker.apps.WorkerConfig",
    "side_effects.apps.SideEffectsConfig",
    # An order's side_effects list their kinds in the order these three register them.
    "email_app.apps.EmailAppConfig",
    "store.apps.StoreConfig",
    "analytics_app.apps.AnalyticsAppConfig",
    "accounts.apps.AccountsConfig",
    "notifications.apps.NotificationsConfig",
    "messaging.apps.MessagingConfig",
    "webhooks.apps.WebhooksConfig",
]

MIDDLEWARE = [
    # First: a probe (/livez, /readyz) comes by the pod's address (no Host check for it).
    "core.probes.probes_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
# Errors Django answers itself (a CSRF failure, a bad Host, a body too large) are JSON
# like the API's own; the admin keeps Django's pages (core.api).
CSRF_FAILURE_VIEW = "core.api.json_csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: config/settings/database.py ------------------------------------
# The bounds every PostgreSQL session must carry (docs/operations.md, "Bounds").
DATABASE_SESSION_BOUNDS_MS = server_bounds_ms()
DATABASES = database_settings(BASE_DIR, bounds_ms=DATABASE_SESSION_BOUNDS_MS)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

TIME_ZONE = os.environ.get("TZ_NAME", "UTC")

STATIC_URL = "static/"
# Where collectstatic puts the files the web serves (WhiteNoise): one directory a stack.
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
# The React notifications tab, built by `npm run build` in frontend/ (make run, make test and
# the Dockerfile build it; never committed): static/frontend/notifications.{js,css}.
STATICFILES_DIRS = [("frontend", BASE_DIR / "frontend" / "dist")]

# --- Caches -------------------------------------------------------------------
# Per process. "tokens": API tokens with their users, a few seconds (store.authentication).
SHOPFLOW_TOKEN_CACHE_SECONDS = env_int("SHOPFLOW_TOKEN_CACHE_SECONDS", 10)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "tokens": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "tokens",
        "TIMEOUT": SHOPFLOW_TOKEN_CACHE_SECONDS,
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    },
}

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header turns "no credentials" into 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "store.authentication.CustomerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI 3 at /api/schema/ and /api/docs/; openapi.yaml is its committed copy.
SPECTACULAR_SETTINGS = {
    "TITLE": "Shopflow API",
    "DESCRIPTION": (
        "A shop backend: browse the catalog, fill a cart, check out. Side effects of an "
        "order (confirmation email, stock, analytics) run asynchronously; an order shows "
        "where each stands. Authenticate with `Authorization: Token <key>` (POST "
        "/api/auth/token/) or a session. Every error is JSON with a `detail`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "COMPONENT_SPLIT_PATCH": False,  # PATCH bodies here are whole (a line's quantity)
    "ENUM_NAME_OVERRIDES": {
        "SideEffectStatus": "worker.models.Job.Status",
        "StatusEnum": "store.models.Order.Status",  # the public schema's name, kept
        "WebhookDeliveryStatus": "webhooks.models.Delivery.Status",
        "WebhookEventType": "webhooks.events.EVENT_TYPES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "notifications.openapi.add_stream",
        "core.openapi.add_error_responses",
    ],
}

# --- The shop ------------------------------------------------------------------
# The currency of every price and total (ISO 4217; core.money): one shop, one currency.
SHOPFLOW_CURRENCY = env_currency("SHOPFLOW_CURRENCY", "EUR")

# --- Email ----------------------------------------------------------------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
# SMTP when EMAIL_HOST is set. Without it, development prints emails to the console;
# production refuses to start (production.py) unless a backend is chosen on purpose.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "").strip() or (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_email("DEFAULT_FROM_EMAIL", "Shopflow <orders@shopflow.local>")
# Who gets operational mail (low-stock alerts).
SHOPFLOW_STAFF_EMAILS = env_list("SHOPFLOW_STAFF_EMAILS", "staff@shopflow.local")
SHOPFLOW_OPS_BASIC_AUTH = [
    pair for pair in env_list("FLOWER_BASIC_AUTH", "") if all(pair.partition(":")[::2])
]
# Where staff open Flower (https://flower.shop.example.com/), linked from the front door
# for staff; empty: no link (make run sets its own).
SHOPFLOW_FLOWER_URL = os.environ.get("SHOPFLOW_FLOWER_URL", "").strip()
# A worker serves its container's counts here (worker.metrics); 0: it serves none.
SHOPFLOW_WORKER_METRICS_PORT = env_int("SHOPFLOW_WORKER_METRICS_PORT", 0)

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")

# --- Notifications ------------------------------------------------------------
# Live notifications reach every web process's sockets and streams through the channel
# layer: the broker's Redis unless this names another (it must, with RabbitMQ).
CHANNEL_LAYER_URL = os.environ.get("CHANNEL_LAYER_URL", "").strip() or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "redis://127.0.0.1:6379/0"
)
# A stream or socket ends after this long; its client reconnects, credentials checked.
SHOPFLOW_STREAM_MAX_SECONDS = env_int("SHOPFLOW_STREAM_MAX_SECONDS", 600)
# A connection joins its group before it reads its backlog (the database's statement
# timeout) and starts its life's clock: it is in the group this much longer at most.
CHANNEL_GROUP_MARGIN_SECONDS = 60
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "notifications.channel_layer.RedisChannelLayer",
        "CONFIG": {
            # A receive waits 5 s at most (channels-redis): silent longer, Redis is gone.
            "hosts": [
                {"address": CHANNEL_LAYER_URL, "socket_connect_timeout": 1, "socket_timeout": 10}
            ],
            "prefix": "shopflow",
            # Messages waiting for one web process (its sockets share one list).
            "capacity": 5000,
            # How long a member stays in its group: one that died without leaving (its
            # process killed) gets every publish to the group until then, and channels-
            # redis's default is a day. Never under a connection's life: a live one would
            # drop out and miss its notifications.
            "group_expiry": SHOPFLOW_STREAM_MAX_SECONDS + CHANNEL_GROUP_MARGIN_SECONDS,
        },
    }
}
# An idle stream gets a comment this often, so proxies and load balancers keep it open.
SHOPFLOW_STREAM_HEARTBEAT_SECONDS = env_float("SHOPFLOW_STREAM_HEARTBEAT_SECONDS", 15.0)
# A stream token (in a URL: a browser cannot send headers) lives this long.
SHOPFLOW_STREAM_TOKEN_SECONDS = env_int("SHOPFLOW_STREAM_TOKEN_SECONDS", 60)
# Notifications still unread after this many minutes are emailed, one digest a person.
SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES = env_float("SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES", 10.0)
# Where the site is, for links in emails (https://shop.example.com): required in production.
SHOPFLOW_SITE_URL = os.environ.get("SHOPFLOW_SITE_URL", "").strip().rstrip("/")
# Web Push (VAPID): the key pair, base64url (`make run` makes one in var/), and the
# contact the push services may write to. Without the keys, push is off (503).
VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY", "").strip()
VAPID_PUBLIC_KEY = os.environ.get("VAPID_PUBLIC_KEY", "").strip()
VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT", "").strip() or "mailto:orders@shopflow.local"
# Push endpoints over plain http to loopback (tests, a local push service); never in prod.
SHOPFLOW_PUSH_ALLOW_LOOPBACK = env_bool("SHOPFLOW_PUSH_ALLOW_LOOPBACK", False)
# Webhook endpoints over plain http to loopback (tests, a local receiver); never in prod.
SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = env_bool("SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK", False)
# Delivered and failed webhook deliveries, with their attempts, are deleted this many days
# after their event by the daily prune.
SHOPFLOW_WEBHOOKS_RETENTION_DAYS = env_int("SHOPFLOW_WEBHOOKS_RETENTION_DAYS", 30)
LOGIN_URL = "/account/login/"
LOGIN_REDIRECT_URL = "/"  # the front door (config.pages)
LOGOUT_REDIRECT_URL = "/account/login/"
CELERY_RESULT_BACKEND = "django-db"
# A job task stores no success result: its jobs' state is their rows. A run that raised (a
# job's end the database refused) is stored FAILURE. The plain scheduled tasks (prunes,
# the duplicate-order alerts) keep their results.
CELERY_RESULT_EXPIRES = timedelta(days=env_int("CELERY_RESULT_EXPIRES_DAYS", 7))
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
# A direct exchange per queue, bound by the queue's own name. Celery's router sends each
# task to its queue by its name (a glob or the exact name), whoever sends it and whether
# or not that process imported the task; a task not named here goes to the default queue.
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name), routing_key=name)
    for name in ("default", "emails", "inventory", "analytics", "webhooks")
]
CELERY_TASK_ROUTES = {
    "email_app.*": {"queue": "emails"},
    # Digests go out from the mail worker, beside the other email (SMTP may be slow).
    "notifications.send_email_digests": {"queue": "emails"},
    "store.apply_inventory": {"queue": "inventory"},
    "store.release_stock": {"queue": "inventory"},
    "analytics_app.*": {"queue": "analytics"},
    # Webhooks wait on other people's servers: a worker of their own, on threads.
    "webhooks.*": {"queue": "webhooks"},
}
# One message in hand per process: a prefetched wake-up would wait behind a slow run.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Every message is acknowledged when its run starts (Celery's default, said here): a job's
# wake-up carries no work (the row does), and beat's plain tasks are sent again at their
# next time. Acknowledged late, a message whose run kills its worker would come back for
# ever.
CELERY_TASK_ACKS_LATE = False
# Task events feed Flower (its task list and /metrics); 0 saves them (docs/performance.md).
CELERY_WORKER_SEND_TASK_EVENTS = env_bool("CELERY_WORKER_SEND_TASK_EVENTS", True)
# Keep connections across tasks (Celery's fixup closes them; worker.celery closes old ones).
CELERY_DB_REUSE_MAX = 10_000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A job's attempts (1 + retries) and their waits, drawn from 0..min(cap, factor * 2**n):
# eight retries ride out ten minutes of greylisting.
SHOPFLOW_TASK_MAX_RETRIES = env_int("SHOPFLOW_TASK_MAX_RETRIES", 8)
SHOPFLOW_TASK_RETRY_BACKOFF = env_int("SHOPFLOW_TASK_RETRY_BACKOFF", 5)
SHOPFLOW_TASK_RETRY_BACKOFF_MAX = env_int("SHOPFLOW_TASK_RETRY_BACKOFF_MAX", 600)
# The windows of the mechanisms that bring work back, and the check of their relations.
from .windows import *  # noqa: E402, F403

# RabbitMQ's management API (http://user:password@host:15672/api): /metrics reads the
# oldest ready message's age from it (2 s timeout). Unset: that age is missing for RabbitMQ.
SHOPFLOW_RABBITMQ_API = os.environ.get("SHOPFLOW_RABBITMQ_API", "").strip()
CELERY_BEAT_SCHEDULER = "worker.beat:Scheduler"
# Celery's own formats, with the trace id of a traced task (core.telemetry.trace_ids_in_logs).
CELERY_WORKER_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s]%(trace)s %(message)s"
CELERY_WORKER_TASK_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s]%(trace)s %(task_name)s[%(task_id)s]: %(message)s"
)

# --- Jobs ---------------------------------------------------------------------
# The most orders one run of a side-effect task claims (worker.jobs.jobs_claim).
SHOPFLOW_SIDE_EFFECT_BATCH_SIZE = max(env_int("SHOPFLOW_SIDE_EFFECT_BATCH_SIZE", 25), 1)
# Carts untouched for this long are removed by the scheduled cleanup.
SHOPFLOW_ABANDONED_CART_DAYS = env_int("SHOPFLOW_ABANDONED_CART_DAYS", 30)
# An order with the same lines as one its customer placed this recently is flagged (still
# placed); staff hear of the flagged ones once an alert window (an email, a notification).
SHOPFLOW_DUPLICATE_WINDOW_MINUTES = env_int("SHOPFLOW_DUPLICATE_WINDOW_MINUTES", 10)
SHOPFLOW_DUPLICATE_ALERT_WINDOW_SECONDS = env_int("SHOPFLOW_DUPLICATE_ALERT_WINDOW_SECONDS", 300)
# Every login path (token endpoint, account and admin pages) refuses (429) an account from
# an address with this many failed logins in the window, until the oldest of them leaves
# it; an account from anywhere, and an address for any account, with the larger budgets.
SHOPFLOW_LOGIN_FAILURES_ALLOWED = env_int("SHOPFLOW_LOGIN_FAILURES_ALLOWED", 5)
SHOPFLOW_LOGIN_ACCOUNT_FAILURES_ALLOWED = env_int("SHOPFLOW_LOGIN_ACCOUNT_FAILURES_ALLOWED", 20)
SHOPFLOW_LOGIN_ADDRESS_FAILURES_ALLOWED = env_int("SHOPFLOW_LOGIN_ADDRESS_FAILURES_ALLOWED", 100)
SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS = env_int("SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS", 300)
# Sign-up (the API's and the page's) answers 429 to an address with this many sign-ups
# in its window, and to an email address an account was made for within its window (a
# welcome email each): sign-up cannot mail strangers in bulk.
SHOPFLOW_SIGNUP_ADDRESS_ALLOWED = env_int("SHOPFLOW_SIGNUP_ADDRESS_ALLOWED", 30)
SHOPFLOW_SIGNUP_ADDRESS_WINDOW_SECONDS = env_int("SHOPFLOW_SIGNUP_ADDRESS_WINDOW_SECONDS", 3600)
SHOPFLOW_SIGNUP_EMAIL_ALLOWED = env_int("SHOPFLOW_SIGNUP_EMAIL_ALLOWED", 1)
SHOPFLOW_SIGNUP_EMAIL_WINDOW_SECONDS = env_int("SHOPFLOW_SIGNUP_EMAIL_WINDOW_SECONDS", 86400)
# At most this many password reset emails an account an hour, and this many sent at the
# asking of one client's network (for any accounts); more requests show the same page and
# send nothing.
SHOPFLOW_PASSWORD_RESET_EMAILS_ALLOWED = env_int("SHOPFLOW_PASSWORD_RESET_EMAILS_ALLOWED", 3)
SHOPFLOW_PASSWORD_RESET_ADDRESS_ALLOWED = env_int("SHOPFLOW_PASSWORD_RESET_ADDRESS_ALLOWED", 10)
# Login events and failures (and sign-up attempts, password reset requests) older than this
# are deleted by the scheduled prune; never sooner than the throttles' windows, which count
# the rows in them.
SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS = max(
    env_int("SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS", 90),
    # Each window in days, rounded up.
    -(-SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS // 86400),
    -(-SHOPFLOW_SIGNUP_ADDRESS_WINDOW_SECONDS // 86400),
    -(-SHOPFLOW_SIGNUP_EMAIL_WINDOW_SECONDS // 86400),
    1,
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # `trace` is " trace=<id>" inside a traced span, else "" (core.telemetry).
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s%(trace)s %(message)s"},
    },
    "filters": {"client_errors": {"()": "core.log_filters.ClientErrorsAsWarnings"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_errors"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Two lines per task ("received", "succeeded") cost more than the tasks' own work
        # at load; failures and retries still log (worker.tasks_base), and Flower shows
        # the rest when events are on.
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        # "Sending due task ..." for every run of every entry (the pushes every 10 s) at
        # INFO: shown with CELERY_BEAT_LOG_LEVEL=INFO. Which beat sends, and when that
        # changes, logs whatever this says (worker.beat).
        "celery.beat": {"level": os.environ.get("CELERY_BEAT_LOG_LEVEL", "WARNING")},
    },
}
