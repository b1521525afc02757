"""One beat sends, the others stand by (worker.beat): the lease taken, renewed, let go and
taken over; the beat that takes over starts from what the last one sent, and one whose
lease another took exits. The processes themselves: tests/e2e/test_beat.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.beat import Probe, only_probes_enabled
from worker.beat import Scheduler, beat_lease_take
from worker.celery import app
from worker.models import BeatLease

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def probe(broker_url) -> Probe:
    # Due now, then not for a minute: a takeover that sends again has not read what was sent,
    # however slowly a loaded machine gets from one tick to the next.
    probe = Probe(broker_url, name="probe every minute")
    only_probes_enabled(
        probe.install(every_seconds=60, last_run_at=timezone.now() - timedelta(minutes=2))
    )
    return probe


def lapse() -> None:
    """The lease's holder stopped renewing it LEASE_SECONDS ago."""
    BeatLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))


def test_the_first_beat_takes_the_lease_and_another_waits_for_it_to_lapse():
    assert beat_lease_take(holder="a")
    assert not beat_lease_take(holder="b")
    assert beat_lease_take(holder="a", renew_only=True)

    lapse()  # "a" stopped renewing it

    assert beat_lease_take(holder="b")
    assert not beat_lease_take(holder="a", renew_only=True)


def test_of_two_schedulers_one_sends_and_the_other_stands_by(probe):
    first, second = Scheduler(app=app), Scheduler(app=app)

    first.tick()
    standby = second.tick()

    assert probe.published() == 1
    assert standby == 5.0
    assert (first.leading, second.leading) == (True, False)


def test_the_beat_taking_over_starts_from_what_the_last_one_sent(probe):
    first, second = Scheduler(app=app), Scheduler(app=app)
    first.tick()
    second.tick()
    sent = probe.published()

    lapse()  # the first beat died
    second.tick()  # takes the lease, reads the schedule: sent just now, due in a minute

    assert second.leading
    assert probe.published() == sent
    with pytest.raises(SystemExit):  # the first one, back: its schedule may be stale
        first.tick()


def test_a_beat_that_stops_lets_the_lease_go_at_once(probe):
    first, second = Scheduler(app=app), Scheduler(app=app)
    first.tick()
    first.close()

    second.tick()

    assert second.leading
