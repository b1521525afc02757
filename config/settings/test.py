"""The suite's settings: the development defaults, as `make run`'s own setup has them.
Production settings are tested in subprocesses (tests/config/test_settings.py). The processes
the tests start (workers, web) inherit DJANGO_DEBUG=1, set here, so `config.settings` is
local's for them too."""

import hashlib
import os

os.environ["DJANGO_DEBUG"] = "1"

from .local import *  # noqa: F403
from .local import BASE_DIR, DATABASES

if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Named after the checkout too (pytest-django adds xdist's process): two checkouts'
    # suites on one server each have their own.
    checkout = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{checkout}"}
else:
    # A file, not memory, so worker subprocesses started by tests see the test data.
    # One per test run, so two runs on one checkout do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}
