"""The suite's settings: the development defaults, as `make run`'s own setup has them.
Production settings are tested in subprocesses (tests/config/test_settings.py). The processes
the tests start (workers, web) inherit DJANGO_DEBUG=1, set here, so `config.settings` is
local's for them too."""

import hashlib
import os

os.environ["DJANGO_DEBUG"] = "1"

from .database import database_settings
from .local import *  # noqa: F403
from .local import BASE_DIR, DATABASE_SESSION_BOUNDS_MS, DATABASES

if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # The suite's own sessions idle in a transaction as long as a test waits (pytest-django
    # holds each test in one while it starts processes, minutes on a loaded machine): no
    # idle bound here. The processes a test starts read the environment, and keep it.
    DATABASE_SESSION_BOUNDS_MS = {
        **DATABASE_SESSION_BOUNDS_MS,
        "idle_in_transaction_session_timeout": 0,
    }
    DATABASES = database_settings(BASE_DIR, bounds_ms=DATABASE_SESSION_BOUNDS_MS)
    # Named after the checkout too (pytest-django adds xdist's process): two checkouts'
    # suites on one server each have their own.
    checkout = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{checkout}"}
else:
    # A file, not memory, so worker subprocesses started by tests see the test data.
    # One per test run, so two runs on one checkout do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}
