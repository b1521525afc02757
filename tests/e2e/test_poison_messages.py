"""Work whose run never ends, on a real worker (prefork, one process).

A job (worker.jobs): an order's side effect whose every run loses its worker. Each
attempt is counted when claimed; its lease lapses, and the dispatcher wakes the kind for
it, claimed alone; the claim after the last of max_attempts fails it without running it,
and staff are told. The one mechanism for a worker killed, frozen or cut off.

A plain task (ReliableTask: notifications, webhooks, staff alerts): a message that kills
its process every time, and one that runs past the hard time limit every time (Celery
kills it there). Neither is acknowledged: each comes back flagged redelivered, counted as
a lost attempt, and is dead-lettered from inside the task by that count, the one
mechanism for both."""

import time

import psutil
import pytest
from django.db import transaction

from notifications.models import Notification
from tests.factories import ProductFactory, UserFactory
from tests.support.brokers import queued_task_ids
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, worker_env
from worker import outbox
from worker.celery import app
from worker.models import DeadLetter, OutboxMessage

from .test_worker_process import SHORT_WINDOWS, checkout, email_job, side_effects

pytestmark = pytest.mark.django_db(transaction=True)


# The job's attempts here: SHOPFLOW_TASK_MAX_RETRIES + 1.
MAX_ATTEMPTS = 3
LOST = "its 3 attempts all lost their worker before they ended"


def test_a_side_effect_whose_every_attempt_loses_its_worker_fails_and_staff_are_told(
    own_redis, smtp_server, tmp_path, relay_process
):
    """An order's confirmation email whose every run loses its worker: the test SIGKILLs
    the pool process each time the run is at SMTP, as an out-of-memory kill of that
    order's work would. Three attempts (each claimed once the last one's 15 s lease
    lapsed), then a claim that fails the job without running it: staff are told, and
    nothing runs it again. The order's other side effects are done."""
    env = worker_env(
        own_redis, smtp_server, SHOPFLOW_TASK_MAX_RETRIES=MAX_ATTEMPTS - 1, **SHORT_WINDOWS
    )
    relay_process(env)
    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=1).start()
    try:
        staff = UserFactory(email="staff@example.com", is_staff=True)
        user = UserFactory(email="poison@example.com")
        wait_until(
            lambda: smtp_server.messages_to(staff.email) and smtp_server.messages_to(user.email),
            message=f"the welcome emails; worker log:\n{worker.output()[-3000:]}",
        )
        product = ProductFactory(on_hand=10, low_stock_threshold=0)
        smtp_server.handler.delay_next = 30
        order_id = checkout(user, product).json()["id"]
        first_kill = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            assert smtp_server.handler.delaying.wait(timeout=60), worker.output()[-3000:]
            assert smtp_server.handler.delayed_recipients == [user.email]
            assert email_job(order_id).attempts == attempt
            smtp_server.handler.delaying.clear()
            if attempt < MAX_ATTEMPTS:
                smtp_server.handler.delay_next = 30  # the next attempt's send, held too
            [pool_process] = psutil.Process(worker.process.pid).children()
            pool_process.kill()
            first_kill = first_kill or time.monotonic()

        failed = wait_until(
            lambda: (job := email_job(order_id)).status == "failed" and job,
            timeout=60,
            message=f"the job to fail; worker log:\n{worker.output()[-3000:]}",
        )
        print(f"\nfailed {time.monotonic() - first_kill:.0f} s after the first kill")
        # The fourth claim counted, and failed the job instead of running it.
        assert (failed.attempts, failed.last_error) == (MAX_ATTEMPTS + 1, LOST)
        output = worker.output()
        assert output.count("its last attempt lost its worker; alone") == MAX_ATTEMPTS - 1
        assert f"failed for good: {LOST}" in output
        told = Notification.objects.filter(recipient=staff, kind="side_effect_failed")
        assert [n.message for n in told] == [
            f"Order #{order_id}: confirmation_email failed for good: {LOST}"
        ]
        assert side_effects(user, order_id) == {
            "confirmation_email": "failed",
            "inventory": "done",
            "analytics": "done",
        }
        # No attempt's send went out (each was killed at DATA), and none ran after the third.
        subjects = [m["Subject"] for m in smtp_server.messages_to(user.email)]
        assert subjects == ["Welcome to Shopflow"]
    finally:
        worker.stop()


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
