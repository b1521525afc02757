"""Jobs whose run never ends, on a real worker (prefork, one process): an order's side
effect whose every run loses its worker (killed), and a job whose every run outlives the
hard time limit (Celery kills its process there). Each attempt is counted when claimed;
its lease lapses, and the dispatcher wakes the kind for it, claimed alone; the claim
after the last of max_attempts fails it without running it (a dead letter), and those
concerned are told. The one mechanism for a worker killed, frozen or cut off, and for a
run that does not end. And a plain task (beat's) that kills its worker: run once."""

import time

import psutil
import pytest
import redis

from notifications.models import Notification
from tests.factories import ProductFactory, UserFactory
from tests.support.brokers import queued_task_ids
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, dispatcher_thread, worker_env
from worker.jobs import enqueue_on_commit
from worker.models import DeadLetter, Job

from .test_worker_process import SHORT_WINDOWS, checkout, email_job, side_effects
from .worker_tasks import (
    HARD_LIMIT_SECONDS,
    OUTLIVES_ITS_TIME_LIMIT,
    kills_its_worker,
    outlives_its_time_limit,
    sleeps,
)

pytestmark = pytest.mark.django_db(transaction=True)


# The job's attempts here: SHOPFLOW_TASK_MAX_RETRIES + 1.
MAX_ATTEMPTS = 3
LOST = "its 3 attempts all lost their worker before they ended"


def test_a_side_effect_whose_every_attempt_loses_its_worker_fails_and_staff_are_told(
    own_redis, smtp_server, tmp_path, dispatcher_process
):
    """An order's confirmation email whose every run loses its worker: the test SIGKILLs
    the pool process each time the run is at SMTP, as an out-of-memory kill of that
    order's work would. Three attempts (each claimed once the last one's 15 s lease
    lapsed), then a claim that fails the job without running it: staff are told, and
    nothing runs it again. The order's other side effects are done."""
    env = worker_env(
        own_redis, smtp_server, SHOPFLOW_TASK_MAX_RETRIES=MAX_ATTEMPTS - 1, **SHORT_WINDOWS
    )
    dispatcher_process(env)
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
        first_kill = kill_each_attempt_at_smtp(smtp_server, worker, user, order_id)

        failed = wait_until(
            lambda: (job := email_job(order_id)).status == "failed" and job,
            timeout=60,
            message=f"the job to fail; worker log:\n{worker.output()[-3000:]}",
        )
        print(f"\nfailed {time.monotonic() - first_kill:.0f} s after the first kill")
        assert_failed_for_good_and_staff_told(failed, worker, smtp_server, staff, user, order_id)
    finally:
        worker.stop()


def assert_failed_for_good_and_staff_told(failed, worker, smtp_server, staff, user, order_id):
    """The fourth claim counted, and failed the job instead of running it; staff were told
    once; the order's other side effects were done; no attempt's send went out."""
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


def kill_each_attempt_at_smtp(smtp_server, worker, user, order_id) -> float:
    """SIGKILL the worker's pool process each time an attempt at the order's email is at
    SMTP (the server holding its DATA), MAX_ATTEMPTS times; when the first was killed."""
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
    return first_kill


def test_a_job_past_its_hard_time_limit_every_time_fails_and_is_not_run_again(
    own_redis, smtp_server, tmp_path
):
    """A job whose run ignores its soft time limit: the hard one (3 s) kills its pool
    process every time. Two attempts (the second claimed once the first's 17 s lease
    lapsed: over the time limit, and over half the soft one plus a send's 15 s cut, as the
    settings' windows require), then a claim that fails it without running it: a dead
    letter, run twice in all."""
    env = worker_env(
        own_redis,
        smtp_server,
        SHOPFLOW_TASK_MAX_RETRIES=1,
        CELERY_TASK_TIME_LIMIT=HARD_LIMIT_SECONDS,
        SHOPFLOW_JOB_LEASE_SECONDS=17,
        SHOPFLOW_WAKE_AGAIN_SECONDS=5,
    )
    worker = WorkerProcess(
        env, tmp_path / "worker.log", concurrency=1, include="tests.e2e.worker_tasks"
    ).start()
    marker = tmp_path / "runs.txt"
    try:
        enqueue_on_commit(outlives_its_time_limit, str(marker))
        started = time.monotonic()
        with dispatcher_thread():  # this process's: it knows the tests' kind
            failed = wait_until(
                lambda: DeadLetter.objects.filter(kind=OUTLIVES_ITS_TIME_LIMIT).first(),
                timeout=90,
                message=f"the dead letter; worker log:\n{worker.output()[-3000:]}",
            )
        print(f"\nfailed {time.monotonic() - started:.0f} s after it was enqueued")
        log = worker.output()
    finally:
        worker.stop()

    assert marker.read_text().count("run") == 2
    assert log.count(f"Hard time limit ({HARD_LIMIT_SECONDS}s) exceeded") == 2
    assert (failed.attempts, failed.last_error) == (
        3,
        "its 2 attempts all lost their worker before they ended",
    )
    assert Job.objects.get(pk=failed.pk).status == "failed"


def test_a_plain_task_that_kills_its_worker_runs_once_and_is_not_handed_out_again(
    own_redis, smtp_server, tmp_path
):
    """Beat's periodic tasks are plain tasks, not jobs: their message is acknowledged
    when the run starts. One whose run kills its pool process is gone with it (its next
    period sends it again), never handed out again and again."""
    worker = WorkerProcess(
        worker_env(own_redis, smtp_server),
        tmp_path / "worker.log",
        concurrency=1,
        queues="default",
        include="tests.e2e.worker_tasks",
    ).start()
    runs, after = tmp_path / "runs.txt", tmp_path / "after.txt"
    try:
        kills_its_worker.delay(str(runs))
        wait_until(
            lambda: "exited with 'signal 9 (SIGKILL)'" in worker.output(),
            message=f"the pool process's loss; worker log:\n{worker.output()[-3000:]}",
        )
        sleeps.delay(0, str(after))  # behind anything the broker handed out again
        wait_until(after.exists, message=f"the next task; log:\n{worker.output()[-3000:]}")
        waiting = queued_task_ids(own_redis.url, "default")
        held = redis.Redis.from_url(own_redis.url).hlen("unacked")  # to be given back
    finally:
        worker.stop()

    assert runs.read_text().count("run") == 1
    assert (waiting, held) == ([], 0)


def test_the_tests_own_tasks_are_sent_by_the_project_app_and_unknown_to_other_apps():
    """kills_its_worker sent from this process after a test used the in-process worker
    (whose app pytest-celery makes the current one) went to that worker, which ran it
    here: the test process was killed. The tests' tasks are the project app's alone; an
    app made now (as the in-process worker's is) gets every shared task, not these."""
    from celery import Celery

    from worker.celery import app
    from worker.tasks import prune_jobs  # a shared task

    other = Celery("other", set_as_current=False)
    assert kills_its_worker.app is app
    assert prune_jobs.name in other.tasks
    assert kills_its_worker.name not in other.tasks
