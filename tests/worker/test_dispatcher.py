"""The dispatcher (worker.dispatcher) against this test process's Redis: a tick wakes a
kind's workers with ceil(due jobs / batch) messages on the kind's queue (one more for each
lost job), not again for the same jobs until SHOPFLOW_WAKE_AGAIN_SECONDS have passed on
core.clock.monotonic (the `monotonic_clock` the test steps), and counts nothing as woken
when the broker refuses. The tests' own kind (tests.support.echo_jobs) goes to the
default queue."""

import json
import uuid

import pytest
import redis
from kombu.exceptions import OperationalError as BrokerOperationalError

from devstack.stack import free_port
from tests.support.brokers import celery_broker, queued_headers
from tests.support.echo_jobs import ECHO_KIND, ECHO_NAME, echo_jobs, lease_lapse
from worker.dispatcher import Dispatcher
from worker.jobs import jobs_claim

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

QUEUE = "default"  # where tests.echo is routed: no route names it


@pytest.fixture
def wakeups(broker_url, echo_task):
    """The echo kind's wake-ups waiting in its queue: a count, read off the broker; none
    before the test, none left after it."""

    def clear():
        client = redis.Redis.from_url(broker_url)
        for raw in client.lrange(QUEUE, 0, -1):
            if json.loads(raw)["headers"]["task"] == ECHO_NAME:
                client.lrem(QUEUE, 0, raw)

    def count() -> int:
        return sum(h["task"] == ECHO_NAME for h in queued_headers(broker_url, QUEUE))

    clear()
    try:
        yield count
    finally:
        clear()


def test_due_jobs_are_woken_a_batch_a_message_on_their_kinds_queue(wakeups, monotonic_clock):
    echo_jobs(*range(10))  # batch 4

    assert Dispatcher().tick() == 3

    assert wakeups() == 3


def test_jobs_woken_are_not_woken_again_until_the_wake_again_window_passes(
    wakeups, monotonic_clock, settings
):
    echo_jobs(*range(10))
    dispatcher = Dispatcher()
    assert dispatcher.tick() == 3

    assert dispatcher.tick() == 0
    monotonic_clock.advance(settings.SHOPFLOW_WAKE_AGAIN_SECONDS - 1)
    assert dispatcher.tick() == 0
    assert wakeups() == 3

    monotonic_clock.advance(1)  # still due, WAKE_AGAIN after their wake-up: lost, or late
    assert dispatcher.tick() == 3
    assert wakeups() == 6


def test_a_lost_job_gets_a_wake_up_of_its_own(wakeups, monotonic_clock):
    echo_jobs(1, 2, 3)
    echo_jobs("lost", attempts=1, lease_id=uuid.uuid4())
    lease_lapse("lost")

    assert Dispatcher().tick() == 2  # the three fresh ones in one batch, the lost one alone

    assert wakeups() == 2


def test_a_job_that_lost_its_worker_since_its_wake_up_is_woken_at_once(wakeups, monotonic_clock):
    """A lost attempt (a lease that ran out) is due work of its own: its wake-up does not
    wait for the window of the wake-up that came before."""
    echo_jobs(1)
    dispatcher = Dispatcher()
    assert dispatcher.tick() == 1
    assert len(jobs_claim(kind=ECHO_KIND, limit=4)) == 1
    assert dispatcher.tick() == 0  # leased: not due

    lease_lapse(1)  # its worker died

    assert dispatcher.tick() == 1
    assert wakeups() == 2


def test_a_tick_wakes_at_most_wake_ahead_batches_of_a_kind(wakeups, monotonic_clock, settings):
    settings.SHOPFLOW_WAKE_AHEAD = 2
    echo_jobs(*range(10))
    dispatcher = Dispatcher()

    assert dispatcher.tick() == 2  # 8 of the 10

    assert dispatcher.tick() == 0
    assert len(jobs_claim(kind=ECHO_KIND, limit=8)) == 8  # their workers took them
    assert dispatcher.tick() == 1  # the last 2
    assert wakeups() == 3


def test_a_broker_that_refuses_fails_the_tick_and_the_next_one_wakes_them(wakeups, monotonic_clock):
    echo_jobs(*range(10))
    dispatcher = Dispatcher()

    closed = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    with celery_broker(closed), pytest.raises(BrokerOperationalError, match="refused"):
        dispatcher.tick()

    assert wakeups() == 0
    assert dispatcher.tick() == 3  # the broker is back: nothing was counted as woken
    assert wakeups() == 3
