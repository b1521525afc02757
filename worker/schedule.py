"""The beat schedule: apps add their periodic tasks in their ready() (`schedule_task`),
and the entries are written to django-celery-beat's tables after every migrate, so that
operators see and change them in the admin. Installing again creates only missing
entries: one an operator changed stays as it is.
Which beat sends them: worker.beat."""

from dataclasses import dataclass

from django.apps import apps as installed_apps
from django.conf import settings
from django.utils import timezone


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


def install_schedule(*, apps=installed_apps, using: str = "default", **post_migrate) -> list[str]:
    """Create the missing entries; returns the names created. A post_migrate receiver too
    (after every migrate and flush, once the tables are there, as Django makes its
    permissions). `apps`: the models to use (a migration's or post_migrate's); nothing is
    done while django-celery-beat's are not among them (a migrate that stopped short of its
    tables). It runs after every flush of a test database too, so it writes in few
    statements."""
    try:
        beat = {
            name: apps.get_model("django_celery_beat", name)._default_manager.db_manager(using)
            for name in ("PeriodicTask", "PeriodicTasks", "IntervalSchedule", "CrontabSchedule")
        }
    except LookupError:
        return []
    there = set(beat["PeriodicTask"].filter(name__in=_entries).values_list("name", flat=True))
    missing = [entry for name, entry in _entries.items() if name not in there]
    if not missing:
        return []
    # One INSERT, not a save() each (django-celery-beat's marks the schedule changed each
    # time); a running beat reloads its schedule once this moves.
    beat["PeriodicTask"].bulk_create([_periodic_task(entry, beat) for entry in missing])
    beat["PeriodicTasks"].update_or_create(ident=1, defaults={"last_update": timezone.now()})
    return [entry.name for entry in missing]


def _periodic_task(entry: ScheduleEntry, beat: dict):
    fields = {"name": entry.name, "task": entry.task}
    if entry.expire_seconds is not None:
        fields["expire_seconds"] = entry.expire_seconds
    if entry.every_seconds is not None:
        fields["interval"], _ = beat["IntervalSchedule"].get_or_create(
            every=entry.every_seconds, period="seconds"
        )
    else:
        every = {"day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
        fields["crontab"], _ = beat["CrontabSchedule"].get_or_create(
            **{"minute": "*", "hour": "*", **every, **entry.crontab},
            # The zone django-celery-beat's default would choose, given: that default
            # lists the time zone database's files each time it is asked.
            defaults={"timezone": settings.CELERY_TIMEZONE},
        )
    return beat["PeriodicTask"].model(**fields)
