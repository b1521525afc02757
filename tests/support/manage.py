"""`manage.py` in a process of its own, with the environment a test gives it: what a
process started with those settings does (refuses in one line, or passes its checks)."""

import os
import secrets
import subprocess

from tests.support.processes import python_run

SECRET = "DJANGO_SECRET_KEY"


def manage(*args, unset=(), **overrides) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the entry point's choice, not the suite's
    env.update(overrides)
    return python_run("manage.py", *args, env=env)


def production(**overrides) -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "0",
        SECRET: secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
        "DATABASE_URL": "postgres://shop:secret@db.example.com:5432/shop",
        "EMAIL_HOST": "smtp.example.com",
        "SHOPFLOW_SITE_URL": "https://shop.example.com",
        "CELERY_BROKER_URL": "redis://:secret@redis.example.com:6379/0",
        **overrides,
    }
