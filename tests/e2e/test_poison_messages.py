"""Messages whose run never ends, on a real worker (prefork, one process): one that kills
its process every time, and one that runs past the hard time limit every time (Celery
kills it there). Neither is acknowledged: each comes back flagged redelivered, counted as
a lost attempt, and is dead-lettered from inside the task by that count, the one
mechanism for both."""

import pytest
from django.db import transaction

from tests.support.brokers import queued_task_ids
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, worker_env
from worker import outbox
from worker.celery import app
from worker.models import DeadLetter, OutboxMessage

pytestmark = pytest.mark.django_db(transaction=True)


def run_until_dead_lettered(env, tmp_path, task_name: str, *, as_beat_sends: bool = False):
    """`task_name` (of tests.e2e.worker_tasks) enqueued for a worker of one process,
    through the outbox or, `as_beat_sends`, straight to the broker: its dead letter, how
    many times it ran, and the worker's log."""
    worker = WorkerProcess(
        env, tmp_path / "worker.log", concurrency=1, include="tests.e2e.worker_tasks"
    ).start()
    marker = tmp_path / "runs.txt"
    try:
        if as_beat_sends:
            app.send_task(task_name, args=[str(marker)])
        else:
            with transaction.atomic():
                outbox.enqueue_on_commit(task_name, str(marker))
        letter = wait_until(
            DeadLetter.objects.first,
            timeout=90,
            message=f"the dead letter; worker log:\n{worker.output()[-3000:]}",
        )
        return letter, marker.read_text().count("run"), worker.output()
    finally:
        worker.stop()


def test_a_message_that_kills_its_worker_every_time_is_dead_lettered(
    own_redis, smtp_server, tmp_path, relay_process
):
    env = worker_env(own_redis, smtp_server, SHOPFLOW_TASK_MAX_REDELIVERIES=2)
    relay_process(env)

    letter, runs, _ = run_until_dead_lettered(env, tmp_path, "tests.kills_its_own_process")

    # The first delivery and two more ran (and killed their process); the fourth was
    # dead-lettered without running.
    assert runs == 3
    assert (letter.task_name, "PoisonMessage" in letter.exception) == (
        "tests.kills_its_own_process",
        True,
    )
    assert OutboxMessage.objects.get().redeliveries == 3
    assert queued_task_ids(own_redis.url, "default") == []


def test_a_message_beat_sent_that_kills_its_worker_every_time_is_dead_lettered_too(
    own_redis, smtp_server, tmp_path
):
    """No outbox row knows it (beat sends to the broker): one is made when it first
    comes back, to count on."""
    env = worker_env(own_redis, smtp_server, SHOPFLOW_TASK_MAX_REDELIVERIES=1)

    letter, runs, _ = run_until_dead_lettered(
        env, tmp_path, "tests.kills_its_own_process", as_beat_sends=True
    )

    assert runs == 2
    assert "PoisonMessage" in letter.exception
    counted = OutboxMessage.objects.get()
    assert (counted.task_name, counted.redeliveries) == ("tests.kills_its_own_process", 2)
    assert counted.published_at is not None  # counted on, never relayed
    assert queued_task_ids(own_redis.url, "default") == []


def test_a_task_past_its_hard_time_limit_every_time_is_dead_lettered_not_lost(
    own_redis, smtp_server, tmp_path, relay_process
):
    env = worker_env(
        own_redis, smtp_server, SHOPFLOW_TASK_MAX_REDELIVERIES=1, CELERY_TASK_TIME_LIMIT=3
    )
    relay_process(env)

    letter, runs, log = run_until_dead_lettered(env, tmp_path, "tests.outlives_its_time_limit")

    # The first delivery and one more ran into the hard limit; the third was
    # dead-lettered without running.
    assert runs == 2
    assert "Hard time limit (3" in log
    assert (letter.task_name, "PoisonMessage" in letter.exception) == (
        "tests.outlives_its_time_limit",
        True,
    )
    assert OutboxMessage.objects.get().redeliveries == 2
    assert queued_task_ids(own_redis.url, "default") == []
