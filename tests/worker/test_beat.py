"""Each due time claimed before it is sent (worker.schedule.periodic_task_claim,
worker.beat.Scheduler): of two schedulers that found the same due time, one sends it and
the other reads the entry back and is not due again; the database keeps the winner's run,
whatever the loser's sync. The processes themselves: tests/e2e/test_beat.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.beat import Probe, only_probes_enabled
from worker.beat import Scheduler
from worker.celery import app
from worker.schedule import periodic_task_claim

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def probe(broker_url) -> Probe:
    return Probe(broker_url, name="probe every 2 s")


def test_a_due_time_is_claimed_once(probe):
    entry = probe.install(every_seconds=2, last_run_at=timezone.now() - timedelta(minutes=1))
    read, run_at = entry.last_run_at, timezone.now()

    assert periodic_task_claim(task_id=entry.pk, read=read, run_at=run_at)
    assert not periodic_task_claim(task_id=entry.pk, read=read, run_at=timezone.now())

    entry.refresh_from_db()
    assert (entry.last_run_at, entry.total_run_count) == (run_at, 1)


def test_an_entry_never_run_is_claimed_whatever_the_beat_assumed(probe):
    """A beat assumes a last run for an entry without one (its creation): the first claim
    wins all the same, and the next claim of that assumption loses."""
    entry = probe.install(every_seconds=2)
    assumed = timezone.now() - timedelta(days=1)

    assert periodic_task_claim(task_id=entry.pk, read=assumed, run_at=timezone.now())
    assert not periodic_task_claim(task_id=entry.pk, read=assumed, run_at=timezone.now())


def test_of_two_schedulers_one_sends_and_the_other_waits_for_the_next_time(probe):
    entry = probe.install(every_seconds=2, last_run_at=timezone.now() - timedelta(minutes=1))
    only_probes_enabled(entry)
    first, second = Scheduler(app=app), Scheduler(app=app)
    found = [scheduler.schedule[probe.name] for scheduler in (first, second)]
    assert all(each.is_due().is_due for each in found)

    claimed = first.reserve(found[0])
    first.apply_entry(found[0], producer=first.producer)
    refreshed = second.reserve(found[1])
    second.apply_entry(found[1], producer=second.producer)
    second.sync()  # its shutdown's, or every few minutes: writes nothing of this entry

    assert probe.published() == 1
    entry.refresh_from_db()
    assert entry.last_run_at == claimed.last_run_at == refreshed.last_run_at
    assert entry.total_run_count == 1
    assert not refreshed.is_due().is_due
