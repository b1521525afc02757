"""Consumers of each queue, as /metrics reads them, with a real worker process: RabbitMQ
counts them itself; on Redis, each worker announces the queues it consumes (worker.
queue_redis.ConsumerAnnouncer), takes back a queue an operator cancels at its next
announcement, and all of them when it stops, without waiting for its announcement to
expire."""

import signal

import pytest

from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, celery_control, subprocess_env
from worker.queue_redis import ANNOUNCEMENT_TTL_SECONDS
from worker.queues import queue_states

pytestmark = pytest.mark.django_db(transaction=True)

QUEUES = ["default", "emails", "inventory", "analytics"]


def consumers() -> dict[str, int]:
    return {name: state.consumers for name, state in queue_states(names=QUEUES).items()}


@pytest.fixture
def worker_env(stoppable_broker):
    return subprocess_env(CELERY_BROKER_URL=stoppable_broker.url)


def test_a_workers_queues_are_consumed_until_cancelled_and_until_it_stops(worker_env, tmp_path):
    worker = WorkerProcess(worker_env, tmp_path / "worker.log", queues="emails,inventory")
    worker.start()
    try:
        expected = {"default": 0, "emails": 1, "inventory": 1, "analytics": 0}
        wait_until(lambda: consumers() == expected, timeout=15, message=f"{expected}")

        replies = celery_control(worker_env, "cancel_consumer", "inventory", "-d", worker.name)
        assert "no longer consuming from inventory" in replies

        # Within one announcement (5 s), not the expiry of the last one.
        expected = {"default": 0, "emails": 1, "inventory": 0, "analytics": 0}
        wait_until(lambda: consumers() == expected, timeout=ANNOUNCEMENT_TTL_SECONDS - 5)
    finally:
        worker.stop()

    assert worker.process.returncode == 0, worker.output()
    wait_until(lambda: consumers() == dict.fromkeys(QUEUES, 0), timeout=5, message="none left")


def test_a_killed_redis_worker_stops_counting_once_its_announcement_expires(own_redis, tmp_path):
    env = subprocess_env(CELERY_BROKER_URL=own_redis.url)
    worker = WorkerProcess(env, tmp_path / "worker.log", queues="inventory").start()
    wait_until(lambda: consumers()["inventory"] == 1, timeout=15, message="announced")

    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(timeout=10)
    worker.stop()

    wait_until(
        lambda: consumers()["inventory"] == 0,
        timeout=ANNOUNCEMENT_TTL_SECONDS + 5,
        message="the announcement to expire",
    )
