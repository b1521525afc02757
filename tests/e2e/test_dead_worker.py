"""A worker SIGKILLed mid-task costs at most two minutes, on Redis and on RabbitMQ, with the
windows production runs with: Redis's 90 s visibility timeout, a 60 s email claim, a 60 s
deadline and the reconciler every 30 s (here at its worst phase). And a worker that is
only slow is not raced."""

import os
import signal
import time

import pytest

from email_app.models import SentEmail
from side_effects.models import OrderSideEffect
from side_effects.services import side_effects_reconcile
from store.models import StockMovement
from tests.factories import ProductFactory, UserFactory
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, worker_env
from tests.support.reconciler import ReconcilerAtItsWorstPhase

from .test_worker_process import ALL_DONE, checkout, side_effects

pytestmark = pytest.mark.django_db(transaction=True)

PROMISE_SECONDS = 120


def confirmations(smtp_server, order_id) -> int:
    subjects = [message["Subject"] for message in smtp_server.messages]
    return subjects.count(f"Your Shopflow order #{order_id}")


def email_deadline(order_id):
    return OrderSideEffect.objects.get(order_id=order_id, kind="confirmation_email").deadline


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
    stoppable_broker, smtp_server, tmp_path, relay_process, request
):
    """SIGKILL a worker's main process and pool while the confirmation email waits on
    SMTP, then start a second worker, as its restart would (started before the kill, it
    took longer than the send's 10 s timeout on a machine running two suites, and the
    first worker had sent the email by then). On RabbitMQ the broker gives the message to
    the second worker at once; on Redis once it has been held longer than the visibility timeout, or
    the reconciler re-drives the email past its deadline, whichever comes first. Either
    way the new delivery takes the dead one's claim over once it is stale, and sends
    once."""
    env = worker_env(stoppable_broker, smtp_server)
    relay_process(env)
    doomed = WorkerProcess(env, tmp_path / "doomed.log", concurrency=1).start()
    survivor = None
    try:
        user, order_id = order_with_its_email_held(smtp_server, doomed, "dead", seconds=30)
        os.killpg(doomed.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        doomed.stop()
        survivor = WorkerProcess(env, tmp_path / "survivor.log", concurrency=1).start()

        beat = ReconcilerAtItsWorstPhase(email_deadline(order_id))

        wait_until(
            lambda: beat.run_if_due() or side_effects(user, order_id) == ALL_DONE,
            timeout=PROMISE_SECONDS,
            interval=0.5,
            message=f"the side effects; survivor's log:\n{survivor.output()[-3000:]}",
        )
        elapsed = time.monotonic() - killed
        print(f"\n{request.node.name}: done {elapsed:.0f} s after the SIGKILL")
        assert elapsed <= PROMISE_SECONDS
        assert "taking over a claim" in survivor.output()
        assert confirmations(smtp_server, order_id) == 1
        assert SentEmail.objects.get(kind="confirmation_email", key=str(order_id)).status == "sent"
        assert StockMovement.objects.filter(order_item__order_id=order_id).count() == 1
    finally:
        for worker in (doomed, survivor):
            if worker is not None:
                worker.stop()


def test_a_slow_worker_is_raced_neither_by_its_broker_nor_by_the_reconciler(
    own_redis, smtp_server, tmp_path, relay_process
):
    """An SMTP server that takes 7 s, a visibility timeout of 25 s (a time limit of 15 s, a
    send cut at 10 s: within it, as the settings' windows require), the reconciler running
    all along: the message is not handed out again while its task runs, and the email,
    within its deadline, is never re-driven."""
    env = worker_env(
        own_redis,
        smtp_server,
        CELERY_TASK_TIME_LIMIT=15,
        CELERY_VISIBILITY_TIMEOUT=25,
        SHOPFLOW_EMAIL_CLAIM_SECONDS=20,
    )
    relay_process(env)
    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=1).start()
    try:
        user, order_id = order_with_its_email_held(smtp_server, worker, "slow", seconds=7)

        def done_while_reconciling():
            side_effects_reconcile()
            return side_effects(user, order_id) == ALL_DONE

        wait_until(done_while_reconciling, timeout=30, interval=0.5, message="the side effects")
        email = OrderSideEffect.objects.get(order_id=order_id, kind="confirmation_email")
        assert email.redrives == 0
        assert confirmations(smtp_server, order_id) == 1
        output = worker.output()
        assert "re-driving" not in output and "delivered again" not in output
        assert "EmailInFlight" not in output
    finally:
        worker.stop()
