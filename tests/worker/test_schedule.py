"""The beat schedule: what the apps schedule is written after migrate, every task in it
registered, the frequent ones expiring, and `install_schedule` filling in what is
missing, once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from worker import schedule
from worker.beat import Scheduler
from worker.celery import app

pytestmark = pytest.mark.django_db

EXPECTED_TASKS = {
    "analytics_app.rollup_daily_summary",
    "store.remove_abandoned_carts",
    "worker.prune_jobs",
    "accounts.prune_login_audit",
}
HOUR = timedelta(hours=1)


def install() -> list[str]:
    """What migrate's post_migrate receiver does: the names of the entries it created."""
    return schedule.install_schedule()


def snapshot() -> list[tuple]:
    return list(
        PeriodicTask.objects.order_by("name").values_list(
            "name", "task", "interval_id", "crontab_id", "expire_seconds", "enabled"
        )
    )


def runs_more_often_than_hourly(entry: PeriodicTask) -> bool:
    if entry.interval is not None:
        return entry.interval.schedule.run_every < HOUR
    # A crontab with two or more minutes in its set fires more than once in some hour.
    return len(entry.crontab.schedule.minute) > 1


def test_migrate_installs_what_the_apps_schedule():
    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert tasks >= EXPECTED_TASKS
    assert PeriodicTask.objects.filter(enabled=True, task__in=EXPECTED_TASKS).count() == len(
        EXPECTED_TASKS
    )


def test_beat_runs_no_relay_and_no_reconciler():
    """The dispatcher is a service of its own (manage.py dispatch),
    restarted when its liveness lapses: no second one from beat. The jobs' leases bring
    back what a reconciler re-drove."""
    assert not PeriodicTask.objects.filter(task__contains="relay").exists()
    assert not PeriodicTask.objects.filter(task="side_effects.reconcile").exists()


def test_every_scheduled_task_is_registered_in_the_celery_app():
    app.loader.import_default_modules()

    scheduled = set(PeriodicTask.objects.values_list("task", flat=True))

    assert scheduled, "no schedule at all"
    assert scheduled - set(app.tasks) == set()


def test_no_entry_expires_within_half_an_hour():
    """Celery's expiry is an instant by beat's clock, compared with the worker's: a short
    one would discard every run on a worker whose clock is ahead by that much."""
    frequent = [e for e in PeriodicTask.objects.all() if runs_more_often_than_hourly(e)]

    assert frequent, "the duplicate-order alerts at least run more often than hourly"
    short = [e.name for e in PeriodicTask.objects.all() if (e.expire_seconds or 1800) < 1800]
    assert short == []


def test_install_schedule_twice_changes_nothing():
    before = snapshot()

    assert install() == []
    assert install() == []

    assert snapshot() == before


def test_install_schedule_recreates_a_deleted_entry():
    entry = PeriodicTask.objects.get(task="store.alert_duplicate_orders")
    name, every, expire = entry.name, entry.interval.every, entry.expire_seconds
    entry.delete()
    PeriodicTasks.objects.filter(ident=1).delete()

    assert name in install()

    again = PeriodicTask.objects.get(name=name)
    assert (again.task, again.interval.every, again.interval.period) == (
        "store.alert_duplicate_orders",
        every,
        "seconds",
    )
    assert again.expire_seconds == expire
    assert PeriodicTasks.objects.filter(ident=1).exists()  # a running beat reloads
    assert install() == []
    assert PeriodicTask.objects.filter(task="store.alert_duplicate_orders").count() == 1


def test_install_schedule_keeps_an_operators_change():
    entry = PeriodicTask.objects.get(task="store.alert_duplicate_orders")
    entry.interval, _ = IntervalSchedule.objects.get_or_create(every=45, period="seconds")
    entry.enabled = False
    entry.save()

    install()

    entry.refresh_from_db()
    assert (entry.interval.every, entry.enabled) == (45, False)


def test_the_apps_schedule_and_the_database_agree():
    """Beside Celery's own entries (celery.backend_cleanup: the beat that sends adds it)."""
    entries = {(entry.name, entry.task) for entry in schedule._entries.values()}
    apps_rows = PeriodicTask.objects.exclude(name__startswith="celery.")
    assert set(apps_rows.values_list("name", "task")) == entries


@pytest.mark.django_db(transaction=True)  # the scheduler closes old connections
def test_expired_results_are_cleaned_up_by_django_celery_beats_own_entry():
    """celery.backend_cleanup is in no app's schedule: the beat that sends installs it,
    django-celery-beat's default entry while CELERY_RESULT_EXPIRES is set."""
    try:
        Scheduler(app=app).install_default_entries({})

        entry = PeriodicTask.objects.get(name="celery.backend_cleanup")
        crontab = (entry.crontab.minute, entry.crontab.hour)
        assert (entry.task, crontab, entry.expire_seconds) == (
            "celery.backend_cleanup",
            ("0", "4"),
            43200,
        )
    finally:  # the entry is this test's: the other tests compare the apps' schedule
        PeriodicTask.objects.filter(name="celery.backend_cleanup").delete()


def test_crontab_entries_are_in_the_shops_time_zone():
    zones = {str(zone) for zone in CrontabSchedule.objects.values_list("timezone", flat=True)}

    assert zones == {settings.CELERY_TIMEZONE}
