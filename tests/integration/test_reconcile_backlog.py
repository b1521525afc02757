"""The reconciler keeps its promise under a standing backlog: a real worker, an emails queue
kept busy by a steady stream of slow emails, and one order's confirmation deleted from the
broker (Redis). Its message was published before the oldest one still waiting, so it is
not in the queue, and it is re-driven though the queue never empties."""

import json
import threading
import time

import pytest
import redis

from side_effects.models import OrderSideEffect
from side_effects.services import side_effects_reconcile
from tests.factories import UserFactory
from tests.support.orders import place_order
from tests.support.polling import wait_until
from tests.support.processes import relay_thread
from worker.celery import app as celery_app
from worker.models import OutboxMessage
from worker.queues import queue_states

pytestmark = pytest.mark.django_db(transaction=True)


class SteadyArrivals:
    """Welcome emails of `users`, `per_second` of them published into the emails queue,
    each a real send to a slow SMTP server: a backlog that stands and moves."""

    def __init__(self, users, per_second: float):
        self.users, self.interval = list(users), 1 / per_second
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="arrivals", daemon=True)

    def _run(self):
        for user in self.users:
            if self.stop.wait(self.interval):
                return
            celery_app.send_task("email_app.send_welcome_email", args=[user.pk])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)


def lose_its_message(broker_url: str, order_id: int) -> bool:
    """Delete the emails queue's message that carries this order: lost by the broker."""
    import base64

    client = redis.Redis.from_url(broker_url)
    for raw in client.lrange("emails", 0, -1):
        envelope = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(envelope["body"]))
        if envelope["headers"]["task"].endswith("confirmation_email") and order_id in args[0]:
            return client.lrem("emails", 1, raw) == 1
    return False


def test_a_message_lost_under_a_standing_backlog_is_redriven_within_two_minutes(
    in_process_consumer, smtp_server, customer, settings
):
    settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS = 8
    settings.SHOPFLOW_OUTBOX_LEASE_SECONDS = 2
    smtp_server.handler.delay = 0.2  # about four emails a second from the one worker
    users = [UserFactory(email=f"arrival{n}@example.com") for n in range(300)]
    OutboxMessage.objects.all().delete()  # their welcome emails arrive at the test's pace
    broker = in_process_consumer.app.conf.broker_url

    with relay_thread(), SteadyArrivals(users, per_second=5):
        wait_until(lambda: emails_ready() >= 10, timeout=30, message="a backlog")
        order_id = place_order(customer)["id"]
        wait_until(lambda: lose_its_message(broker, order_id), timeout=10, message="its message")
        confirmation = OrderSideEffect.objects.filter(order_id=order_id, kind="confirmation_email")
        deadline = confirmation.get().deadline

        def redrive() -> dict | None:
            # The reconciler's run, every second here (beat runs it every 30 s).
            return {"ready": emails_ready()} if side_effects_reconcile()["redriven"] else None

        at_redrive = wait_until(
            redrive,
            timeout=deadline.timestamp() + 120 - time.time(),
            interval=1.0,
            message="a re-drive within 2 minutes of the deadline",
        )
        wait_until(
            lambda: confirmation.get().status == "done", timeout=120, message="the re-drive done"
        )
        done_after = time.time() - deadline.timestamp()
        still_ready = emails_ready()

    assert at_redrive["ready"] > 0 and still_ready > 0  # the queue never emptied meanwhile
    assert done_after < 120
    assert (
        sum(m["Subject"] == f"Your Shopflow order #{order_id}" for m in smtp_server.messages) == 1
    )


def emails_ready() -> int:
    return queue_states(names=["emails"])["emails"].ready
