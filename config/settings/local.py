"""Development defaults (`make run`'s own setup, `make shell`, the tests): debug on, a key
and an SQLite file that need no setup, emails printed unless EMAIL_HOST names a server."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS

DEBUG = True

SECRET_KEY = SECRET_KEY or "django-insecure-development-only-key-do-not-use-in-production"  # noqa: F405

INSTALLED_APPS = [*INSTALLED_APPS, "devstack.apps.DevstackConfig"]  # `manage.py runstack`

# make run's address.
SHOPFLOW_SITE_URL = SHOPFLOW_SITE_URL or "http://localhost:8000"  # noqa: F405
