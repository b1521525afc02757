"""The two clocks: for the times that hosts compare (a job's due time, its lease),
the database's now(), in the statement itself, never a host's `timezone.now()`
(docs/reliability.md, "One clock"); for the windows a process measures alone,
`monotonic()`: one function, so that a test moves them all instead of sleeping."""

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
