"""When a crontab entry in the shop's time zone is due across a DST change, computed as
beat computes it (django-celery-beat's crontab, Celery's arithmetic) on a clock stepped
every 10 s through the night: once per local time it names. Real beats across the same
changes: tests/e2e/test_beat_clock.py; what "once" means: docs/operations.md, "Beat"."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.tzcrontab import TzAwareCrontab

from worker.celery import app

BERLIN = ZoneInfo("Europe/Berlin")
STEP = timedelta(seconds=10)
SPRING = datetime(2026, 3, 28, 22, 45, tzinfo=UTC)  # 23:45 CET, the night before
FALL = datetime(2026, 10, 24, 21, 45, tzinfo=UTC)  # 23:45 CEST, the night before


def fired(minute: str, hour: str, *, start: datetime, hours: int = 4) -> list[str]:
    """Local times the entry is sent in the `hours` from `start`, its last run just before
    it, as beat's loop asks: due now? then the run is now."""
    clock = start
    schedule = TzAwareCrontab(minute=minute, hour=hour, tz=BERLIN, app=app)
    schedule.nowfun = lambda: clock.astimezone(BERLIN)
    last_run, runs = start - timedelta(minutes=1), []
    while clock < start + timedelta(hours=hours):
        if schedule.is_due(last_run).is_due:
            last_run = clock
            runs.append(clock.astimezone(BERLIN).strftime("%H:%M %Z"))
        clock += STEP
    return runs


@pytest.mark.parametrize(
    ("minute", "hour", "expected"),
    [
        ("0", "2", ["03:00 CEST"]),  # 02:00 does not exist that day: once, at 03:00
        ("30", "2", ["03:30 CEST"]),  # 02:30 neither: at the instant it would be, CET
        ("0", "3", ["03:00 CEST"]),
        ("0", "*", ["00:00 CET", "01:00 CET", "03:00 CEST", "04:00 CEST"]),
        ("30", "*", ["00:30 CET", "01:30 CET", "03:30 CEST", "04:30 CEST"]),
    ],
)
def test_spring_forward_a_skipped_local_time_fires_once(minute, hour, expected):
    assert fired(minute, hour, start=SPRING) == expected


@pytest.mark.parametrize(
    ("minute", "hour", "expected"),
    [
        ("30", "2", ["02:30 CEST"]),  # 02:30 comes twice: the first one only
        ("0", "2", ["02:00 CEST"]),
        ("0", "3", ["03:00 CET"]),
        ("30", "*", ["00:30 CEST", "01:30 CEST", "02:30 CEST", "03:30 CET"]),
    ],
)
def test_fall_back_a_repeated_local_time_fires_once(minute, hour, expected):
    assert fired(minute, hour, start=FALL, hours=5) == expected
