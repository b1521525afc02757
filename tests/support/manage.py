"""`manage.py`, or a process that loads the settings alone, in a process of its own with
the environment a test gives it: what a process started with those settings does (refuses
in one line, passes its checks, reads a value)."""

import os
import secrets
import subprocess

from tests.support.processes import python_run

SECRET = "DJANGO_SECRET_KEY"


def manage(*args, unset=(), **overrides) -> subprocess.CompletedProcess:
    return python_run("manage.py", *args, env=_environment(unset, overrides))


# The settings as an entry point chooses them (manage.py's two lines), loaded.
SETTINGS_LOADED = (
    "import os\n"
    "from core.env import settings_module\n"
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', settings_module())\n"
    "from django.conf import settings\n"
    "settings.DEBUG\n"
)


def settings_read(code: str, *, unset=(), **overrides) -> subprocess.CompletedProcess:
    """`code` run in a process of its own once its settings loaded, as `manage.py shell -c`
    runs it but without loading every app first (a tenth of that start): what a process
    started with this environment reads of its settings."""
    return python_run("-c", SETTINGS_LOADED + code, env=_environment(unset, overrides))


def _environment(unset, overrides) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the entry point's choice, not the suite's
    env.update(overrides)
    return env


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
