"""A task past its hard time limit, on a real worker (prefork, killed by Celery at the
limit): its message is not lost, and a run that never ends is dead-lettered by the count
of lost attempts, the one mechanism for a message whose run does not end."""

import pytest
from django.db import transaction

from tests.support.brokers import queued_task_ids
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, worker_env
from worker import outbox
from worker.models import DeadLetter

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_task_past_its_hard_time_limit_goes_back_to_its_queue_until_it_is_dead_lettered(
    own_redis, smtp_server, tmp_path, relay_process
):
    """Killed at the hard time limit, its message is not acknowledged: it comes back,
    counted as a lost attempt, and is dead-lettered from inside the task, by the count,
    as a message that kills its worker is."""
    env = worker_env(
        own_redis, smtp_server, SHOPFLOW_TASK_MAX_REDELIVERIES=1, CELERY_TASK_TIME_LIMIT=3
    )
    relay_process(env)
    worker = WorkerProcess(
        env, tmp_path / "worker.log", concurrency=1, include="tests.e2e.worker_tasks"
    ).start()
    marker = tmp_path / "runs.txt"
    try:
        with transaction.atomic():
            outbox.enqueue_on_commit("tests.outlives_its_time_limit", str(marker))

        letter = wait_until(
            DeadLetter.objects.first,
            timeout=60,
            message=f"the dead letter; worker log:\n{worker.output()[-3000:]}",
        )
        # The first delivery and one more ran into the hard limit; the third was
        # dead-lettered without running.
        assert marker.read_text().count("run") == 2
        assert "Hard time limit (3" in worker.output()
        assert (letter.task_name, "PoisonMessage" in letter.exception) == (
            "tests.outlives_its_time_limit",
            True,
        )
        assert queued_task_ids(own_redis.url, "default") == []
    finally:
        worker.stop()
