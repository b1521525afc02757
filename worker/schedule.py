"""The beat schedule: apps add their periodic tasks in their ready() (`schedule_task`),
and the entries are written to django-celery-beat's tables after every migrate (and by
`python manage.py install_schedule`), so that operators see and change them in the admin.
Installing again creates only missing entries: one an operator changed stays as it is.
And the claim of each due time that lets any number of beats run (worker.beat)."""

import json
from dataclasses import dataclass

from django.apps import apps as installed_apps
from django.db.models import F, Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask


@dataclass(frozen=True)
class ScheduleEntry:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: dict | None = None  # crontab fields; those not given are "*"
    # A run that waited longer than this is stale. Celery's expiry is an instant by beat's
    # clock, which the worker compares with its own: under half an hour it would discard
    # the runs of a worker whose clock is ahead (docs/reliability.md, "One clock"), so
    # entries whose late run is as good as a timely one have none.
    expire_seconds: int | None = None


_entries: dict[str, ScheduleEntry] = {}


def schedule_task(
    name: str,
    task,
    *,
    every_seconds: int | None = None,
    crontab: dict | None = None,
    expire_seconds: int | None = None,
) -> None:
    """Run `task` (a Celery task, or a task's name) every `every_seconds`, or on `crontab`,
    under `name`."""
    if (every_seconds is None) == (crontab is None):
        raise ValueError(f"{name}: give every_seconds or crontab")
    task_name = getattr(task, "name", task)
    _entries[name] = ScheduleEntry(name, task_name, every_seconds, crontab, expire_seconds)


def scheduled_tasks() -> list[ScheduleEntry]:
    return list(_entries.values())


def install_schedule(*, apps=installed_apps, using: str = "default") -> list[str]:
    """Create the missing entries; returns the names created. `apps`: the models to use
    (a migration's or post_migrate's); nothing is done while django-celery-beat's are not
    among them (a migrate that stopped short of its tables)."""
    try:
        beat = {
            name: apps.get_model("django_celery_beat", name)._default_manager.db_manager(using)
            for name in ("PeriodicTask", "PeriodicTasks", "IntervalSchedule", "CrontabSchedule")
        }
    except LookupError:
        return []
    created = [entry.name for entry in _entries.values() if _install(entry, beat)]
    if created:  # a running beat reloads its schedule when this moves
        beat["PeriodicTasks"].update_or_create(ident=1, defaults={"last_update": timezone.now()})
    return created


def periodic_task_claim(*, task_id: int, read, run_at) -> bool:
    """Claim one due time of a periodic task for this beat: True when the row's last run
    is still the one this beat `read` when it found the task due (or none: the entry
    assumed one), and is now `run_at`. Of two beats that found the same due time, one
    claims it; the other sends nothing. One conditional UPDATE, so it holds behind
    PgBouncer in transaction mode, where a session lock would not."""
    claimed = (
        PeriodicTask.objects.filter(pk=task_id)
        .filter(Q(last_run_at=read) | Q(last_run_at__isnull=True))
        .update(last_run_at=run_at, total_run_count=F("total_run_count") + 1)
    )
    return claimed == 1


def _install(entry: ScheduleEntry, beat: dict) -> bool:
    if beat["PeriodicTask"].filter(name=entry.name).exists():
        return False
    fields = {"name": entry.name, "task": entry.task, "kwargs": json.dumps({})}
    if entry.expire_seconds is not None:
        fields["expire_seconds"] = entry.expire_seconds
    if entry.every_seconds is not None:
        fields["interval"], _ = beat["IntervalSchedule"].get_or_create(
            every=entry.every_seconds, period="seconds"
        )
    else:
        every = {"day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
        fields["crontab"], _ = beat["CrontabSchedule"].get_or_create(
            **{"minute": "*", "hour": "*", **every, **entry.crontab}
        )
    beat["PeriodicTask"].create(**fields)
    return True
