"""Beat under test: a probe entry (the only one enabled), sent to a queue nobody consumes,
so that what beat published is counted on the broker; and what each beat logged it sent,
with the time it logged it."""

import json
import re
import uuid
from datetime import datetime

import redis
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from tests.support.clocks import log_time

# Celery's beat logs "[2026-03-29 03:00:00,123: INFO/MainProcess] Scheduler: Sending due
# task <name> (<task>)": in the beat's local time, the shop's (Django sets TZ to TIME_ZONE).
SENT = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/\w+\].*? Sending due task (.+) \(",
    re.MULTILINE,
)
STANDING_BY = "standing by, another beat holds the lease"


class Probe:
    """A periodic task of the test's (never run: its queue has no consumer) whose every
    publication stays on the broker, one message each."""

    def __init__(self, broker_url: str, *, name: str):
        self.name = name
        self.queue = f"beat-probe-{uuid.uuid4().hex[:8]}"
        self.redis = redis.Redis.from_url(broker_url)

    def install(self, *, every_seconds=None, crontab=None, last_run_at=None) -> PeriodicTask:
        """The entry, enabled; `crontab`: CrontabSchedule's fields, in the shop's zone."""
        fields = {"name": self.name, "task": "tests.beat_probe", "queue": self.queue}
        if every_seconds is not None:
            fields["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=every_seconds, period=IntervalSchedule.SECONDS
            )
        else:
            fields["crontab"] = CrontabSchedule.objects.create(**crontab)
        return PeriodicTask.objects.create(**fields, kwargs=json.dumps({}), last_run_at=last_run_at)

    def published(self) -> int:
        return self.redis.llen(self.queue)


def only_probes_enabled(*probes: PeriodicTask) -> None:
    """The project's own entries (the relay every 5 s ...) left out of the test."""
    PeriodicTask.objects.exclude(pk__in=[probe.pk for probe in probes]).update(enabled=False)


def sent_at(log: str, name: str) -> list[datetime]:
    """When a beat's log says it sent the entry `name`, in the beat's local time."""
    return [log_time(stamp) for stamp, sent in SENT.findall(log) if sent == name]
