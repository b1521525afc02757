"""Settings of the plain design (bench/plain): startproject's, with DRF, DEBUG off, and what
keeps its per-request work comparable with Shopflow's: the same database settings from
DATABASE_URL (Shopflow's own parsing, connections kept and bounded), the same password
hashers and validators (Django's defaults), the same token authentication (Shopflow's
class, which loads the customer with the token and caches it a few seconds), the same
error shape, and email over SMTP when EMAIL_HOST is set. It reads only variables Shopflow
reads too (docs/operations.md)."""

import os
from pathlib import Path

from config.settings.database import database_settings, server_bounds_ms
from core.env import env_int

ROOT = Path(__file__).resolve().parent.parent.parent  # the project's: Shopflow's templates

# A benchmark on loopback: a fixed key unless one is given.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "bench-plain-design-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "rest_framework.authtoken",
    # Receivers of order_created run in this order: email, stock, analytics (as Shopflow
    # lists an order's side effects).
    "bench.plain.email_app",
    "bench.plain.store",
    "bench.plain.analytics_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bench.plain.urls"
WSGI_APPLICATION = "bench.plain.asgi.wsgi_application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Shopflow's email templates: the same confirmation email, byte for byte.
        "DIRS": [ROOT / "email_app" / "templates"],
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

# An SQLite file under var/ without DATABASE_URL (makemigrations); PostgreSQL to measure.
DATABASES = database_settings(ROOT / "var", bounds_ms=server_bounds_ms())
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

# Shopflow's token authentication keeps a token with its user and customer this long.
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

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "store.authentication.CustomerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Every error is JSON with a `detail`, as the contract says.
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}

EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "Shopflow <orders@shopflow.local>"

# An order with the same lines as one its customer placed this recently is flagged
# (`duplicate_of`), as Shopflow flags it: one indexed query in the checkout.
SHOPFLOW_DUPLICATE_WINDOW_MINUTES = env_int("SHOPFLOW_DUPLICATE_WINDOW_MINUTES", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
