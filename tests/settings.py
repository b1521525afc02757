"""The test suite's settings: the development defaults (DJANGO_DEBUG=1), as `make run`'s
own setup uses them. Production settings are tested in subprocesses
(tests/core/test_settings.py). Worker subprocesses inherit the environment set here."""

import os

os.environ["DJANGO_DEBUG"] = "1"

from core.settings import *  # noqa: F403
