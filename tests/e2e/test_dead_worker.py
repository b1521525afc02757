"""A worker SIGKILLed mid-job costs at most two minutes, on Redis and on RabbitMQ, with the
windows production runs with: a job's 75 s lease (the database's clock), which the
dispatcher notices lapsed within its 200 ms poll. And a worker that is only slow is not
raced."""

import os
import signal
import time

import pytest

from store.models import StockMovement
from tests.factories import ProductFactory, UserFactory
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, worker_env

from .test_worker_process import ALL_DONE, checkout, email_job, email_logged_sent, side_effects

pytestmark = pytest.mark.django_db(transaction=True)

PROMISE_SECONDS = 120
# What a worker logs when an attempt was lost or outrun (worker.tasks_base).
RACED = ("its last attempt lost its worker", "its lease ran out before it ended")


def confirmations(smtp_server, order_id) -> int:
    subjects = [message["Subject"] for message in smtp_server.messages]
    return subjects.count(f"Your Shopflow order #{order_id}")


def order_with_its_email_held(smtp_server, worker, name: str, *, seconds: float):
    """A new customer's order, whose confirmation the SMTP server is holding `seconds`
    before it answers: (the customer, the order id), once the worker is mid-send."""
    user = UserFactory(email=f"{name}@example.com")
    wait_until(lambda: smtp_server.messages_to(user.email), message="the welcome email")
    product = ProductFactory(on_hand=10, low_stock_threshold=0)
    smtp_server.handler.delay_next = seconds
    order_id = checkout(user, product).json()["id"]
    assert smtp_server.handler.delaying.wait(timeout=30), worker.output()[-3000:]
    return user, order_id


def test_a_worker_killed_mid_task_costs_at_most_two_minutes(
    stoppable_broker, smtp_server, tmp_path, dispatcher_process, request
):
    """SIGKILL a worker's main process and pool while the confirmation email waits on
    SMTP, then start a second worker, as its restart would (started before the kill, it
    took longer than the send's 10 s timeout on a machine running two suites, and the
    first worker had sent the email by then). Nothing comes back from the broker (the
    wake-up was acknowledged when the run began): the job's lease lapses 75 s after its
    claim, the dispatcher wakes the kind for it, and the second worker claims it, alone,
    and sends it once (the killed send never ended: nothing logged it sent)."""
    env = worker_env(stoppable_broker, smtp_server)
    dispatcher_process(env)
    doomed = WorkerProcess(env, tmp_path / "doomed.log", concurrency=1).start()
    survivor = None
    try:
        user, order_id = order_with_its_email_held(smtp_server, doomed, "dead", seconds=30)
        os.killpg(doomed.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        doomed.stop()
        survivor = WorkerProcess(env, tmp_path / "survivor.log", concurrency=1).start()

        wait_until(
            lambda: side_effects(user, order_id) == ALL_DONE,
            timeout=PROMISE_SECONDS,
            interval=0.5,
            message=f"the side effects; survivor's log:\n{survivor.output()[-3000:]}",
        )
        elapsed = time.monotonic() - killed
        print(f"\n{request.node.name}: done {elapsed:.0f} s after the SIGKILL")
        assert elapsed <= PROMISE_SECONDS
        output = survivor.output()
        assert "its last attempt lost its worker" in output
        assert email_job(order_id).attempts == 2  # the killed attempt, then the survivor's
        assert confirmations(smtp_server, order_id) == 1
        assert email_logged_sent(order_id)
        assert StockMovement.objects.filter(order_item__order_id=order_id).count() == 1
    finally:
        for worker in (doomed, survivor):
            if worker is not None:
                worker.stop()


def test_a_slow_worker_is_not_raced_while_its_lease_holds(
    own_redis, smtp_server, tmp_path, dispatcher_process
):
    """An SMTP server that takes 7 s, a job's lease of 25 s (over the 15 s hard time limit,
    and over half the soft one plus the send's 15 s cut, as the settings' windows require),
    the dispatcher waking again every 2 s for what is still due, and a second pool process
    free to claim: the job in its run is neither woken nor claimed again, and the email
    goes out once, at its first attempt."""
    env = worker_env(
        own_redis,
        smtp_server,
        CELERY_TASK_TIME_LIMIT=15,
        SHOPFLOW_JOB_LEASE_SECONDS=25,
        SHOPFLOW_WAKE_AGAIN_SECONDS=2,
    )
    dispatcher_process(env)
    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=2).start()
    try:
        user, order_id = order_with_its_email_held(smtp_server, worker, "slow", seconds=7)
        held = time.monotonic()

        wait_until(
            lambda: side_effects(user, order_id) == ALL_DONE,
            timeout=30,
            interval=0.5,
            message=f"the side effects; worker log:\n{worker.output()[-3000:]}",
        )
        print(f"\ndone {time.monotonic() - held:.1f} s after the SMTP server began to hold it")
        assert email_job(order_id).attempts == 1
        assert confirmations(smtp_server, order_id) == 1
        output = worker.output()
        assert [line for line in RACED if line in output] == [], output[-3000:]
    finally:
        worker.stop()
