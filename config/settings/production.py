"""Production: debug off, and it fails closed. Without DJANGO_SECRET_KEY, DATABASE_URL, a
real email backend (EMAIL_HOST, or an explicit EMAIL_BACKEND), SHOPFLOW_SITE_URL or
CELERY_BROKER_URL (and CHANNEL_LAYER_URL beside a broker that is not Redis) it refuses to
start, in one line (core.env.require), rather than run on a development default.
"""

import os

from django.conf import global_settings

from core.env import env_bool, env_int, refuse, refuse_placeholder, require

from .base import *  # noqa: F403

DEBUG = False

require("DJANGO_SECRET_KEY")
# .env.example's placeholders, left in place, stop the process: they are public.
refuse_placeholder("DJANGO_SECRET_KEY")
refuse_placeholder("DATABASE_URL", " (POSTGRES_PASSWORD in docker compose's .env)")
refuse_placeholder("FLOWER_BASIC_AUTH")
refuse_placeholder("EMAIL_HOST_PASSWORD")
refuse_placeholder("VAPID_PRIVATE_KEY")
require("DATABASE_URL", " (sqlite:///path/db.sqlite3 for one machine)")
if not os.environ.get("EMAIL_HOST", "").strip() and not os.environ.get("EMAIL_BACKEND", "").strip():
    # Mail recorded as sent that no one receives is worse than not starting.
    require("EMAIL_HOST", " (or EMAIL_BACKEND, to choose another backend on purpose)")
# Links in emails (unsubscribe, the notifications page) must name the real site.
require("SHOPFLOW_SITE_URL", " (https://shop.example.com: the address in emails' links)")
# Not this machine's Redis by default: a web process would take checkouts whose tasks no
# worker elsewhere ever sees.
require("CELERY_BROKER_URL", " (redis://:password@redis:6379/0, or amqp://... for RabbitMQ)")
if not CELERY_BROKER_URL.startswith("redis"):  # noqa: F405 - as base.py's fallback reads it
    # Live notifications cross web processes through a Redis; RabbitMQ carries none.
    require("CHANNEL_LAYER_URL", " beside a broker that is not Redis (redis://...)")
if env_bool("CELERY_TASK_ALWAYS_EAGER", False):
    # Eager tasks would run SMTP and every side effect inside the checkout's transaction.
    refuse("CELERY_TASK_ALWAYS_EAGER", os.environ["CELERY_TASK_ALWAYS_EAGER"], "off in production")

STORAGES = {
    **global_settings.STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Off only where the site is served over plain HTTP on loopback (`make run`).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if not SECURE_SSL_REDIRECT:
    # Turned off on purpose: the TLS proxy in front redirects, or (the compose stack on
    # localhost) there is no TLS to redirect to.
    SILENCED_SYSTEM_CHECKS.append("security.W008")
if not SESSION_COOKIE_SECURE and SHOPFLOW_SITE_URL.startswith("http://"):  # noqa: F405
    # Off on purpose for a site on plain HTTP (the compose stack on localhost), where
    # secure-only cookies would never come back; a site on https:// is still warned.
    SILENCED_SYSTEM_CHECKS += ["security.W012", "security.W016"]
