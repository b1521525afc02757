"""The two clocks. For the times that hosts compare, the database's: a claim, a deadline
or a relay's hold is written by one host and read by another, whose clock may be off by
seconds or minutes (a paused VM, a host without NTP). Each such time is written and
compared as the database's now(), in the statement itself, never as a host's
`timezone.now()`: a mail host 40 s ahead cannot see a fresh claim as stale.

For the windows a process measures alone (a run's budget, a send's deadline, a pause, a
cache's age), `monotonic()`: one function, so that a test moves them all
(tests.support.clocks.SteppedClock) instead of sleeping."""

import time
from datetime import timedelta

from django.db.models import DurationField, Value
from django.db.models.functions import Now


def db_now(*, plus_seconds: float = 0.0):
    """The database's now (its statement's start), `plus_seconds` later: an expression for
    a filter, an UPDATE or an INSERT."""
    if not plus_seconds:
        return Now()
    offset = Value(timedelta(seconds=plus_seconds), output_field=DurationField())
    return Now() + offset


def monotonic() -> float:
    """This process's seconds for the windows it measures alone (time.monotonic)."""
    return time.monotonic()
