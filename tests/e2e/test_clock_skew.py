"""A worker whose clock runs a minute ahead (Debian's libfaketime) beside one whose clock is
right, on Redis and on RabbitMQ: nothing is sent twice, nothing is stuck.

Claims, deadlines and the outbox's holds are compared on the database's clock
(core.clock), so the worker ahead sees a 10-second-old email claim as 10 seconds old and
an order placed a moment ago as not overdue. Under per-host clocks it saw both a minute
older: its reconciler re-drove the email of an order that the other worker was sending,
and its delivery of that email took the other's claim over and sent it a second time.

The test: worker R (clock right, the `emails` queue only) sends an order's confirmation,
which the SMTP server holds; worker A (a minute ahead, every other queue) does the order's
other side effects. While the send is held, A runs the reconciler (beat's task, sent to
`default`, which only A consumes): it re-drives nothing. A second delivery of the email
(what a re-drive, or the broker giving the message back, makes) goes to A: it finds R's
claim fresh and puts its retry off, and takes nothing over. The send goes on; R is
stopped; a worker a minute ahead on every queue then completes more checkouts alone, the
reconciler running all along. Each order's email went out once, its stock moved once, its
analytics recorded once, and nothing was re-driven.

The send is held for less than the 30 s at which it is cut, so everything A does while it
is held fits there: A is started before the order, and R's socket timeout is set above
the hold (at 10 s, production's, R's send timed out and was retried before A met its
claim: a test of timeouts, not of clocks).

One comparison of two hosts' clocks stays, and the project cannot move it to the
database: the broker's own, on Redis. kombu stamps a message it hands a worker with that
worker's time(), and every worker's sweep gives back those older, by its own time(), than
the visibility timeout (kombu.transport.redis QoS.restore_visible). A's sweep sees R's
messages a minute older than they are: with production's 90 s, it gives back one that R
has held 30 s, while R still runs its task. That costs at most a second delivery of it,
which the claims absorb (the second delivery here is one). A runs here with the timeout
plus the skew, so that its sweep gives back what an unskewed one would, and never during
this test (R holds nothing for long): what the test sees is the project's own comparisons,
whatever the pace of CI. (RabbitMQ gives a message back when its consumer's connection
closes, on no client's clock.)
"""

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field

import pytest
from django.conf import settings

from analytics_app.models import AnalyticsEvent
from side_effects.models import OrderSideEffect
from store.models import Product, StockMovement
from tests.factories import ProductFactory, UserFactory
from tests.support.clocks import clock_ahead_env, log_clock_ahead
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, worker_env
from tests.support.smtp import SmtpHandler, SmtpServer
from worker.celery import app as celery_app

from .test_worker_process import ALL_DONE, checkout, side_effects

# PostgreSQL: SQLite's now() is the clock of the process that runs the statement.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SKEW_SECONDS = 60
# The SMTP server holds the confirmation until the test lets it go, this long at most:
# under the 30 s at which a send is cut (half the 60 s claim, email_app.services).
HOLD_AT_MOST = 25.0
LATER_ORDERS = 3
RECONCILE = "side_effects.reconcile"  # beat's, every 30 s (side_effects.apps)
CONFIRMATION = "email_app.send_confirmation_email"
NOT_EMAILS = "default,inventory,analytics"  # A's, while R sends the held email
NOTHING_REDRIVEN = {"redriven": 0, "failed": 0}
# Lines a worker logs when two deliveries raced, work was re-driven or given back, or the
# worker broke (under libfaketime: a call of it refused, tests.support.clocks).
NEVER_LOGGED = (
    "taking over a claim",
    "another delivery had taken the claim over",
    "re-driving",
    "delivered again",
    "Traceback",
)


@dataclass
class HeldSmtpHandler(SmtpHandler):
    """Holds the next delivery (`hold_next`) before it answers, until `let_go` is set or
    HOLD_AT_MOST has passed (`held_out`: it had)."""

    hold_next: bool = False
    let_go: threading.Event = field(default_factory=threading.Event)
    held_out: bool = False

    async def handle_DATA(self, server, session, envelope):
        if self.hold_next:
            self.hold_next = False
            self.delaying.set()
            loop = asyncio.get_running_loop()
            released = await loop.run_in_executor(None, self.let_go.wait, HOLD_AT_MOST)
            self.held_out = not released
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def held_smtp():
    with SmtpServer(HeldSmtpHandler()) as server:
        try:
            yield server
        finally:
            server.handler.let_go.set()  # no delivery left held when the server stops


def confirmations(smtp, order_id) -> int:
    subjects = [message["Subject"] for message in smtp.messages]
    return subjects.count(f"Your Shopflow order #{order_id}")


def ahead_env(env) -> dict[str, str]:
    """Worker A's: its clock SKEW_SECONDS ahead, its Redis sweep as an unskewed worker's
    (module docstring)."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    env = {**env, "CELERY_VISIBILITY_TIMEOUT": str(visibility + SKEW_SECONDS)}
    return clock_ahead_env(env, SKEW_SECONDS)


def start_worker(env, log_path, **options) -> WorkerProcess:
    """A worker, started, and how far ahead its clock is, read off its "ready" line."""
    worker = WorkerProcess(env, log_path, **options).start()
    worker.clock_ahead = log_clock_ahead(worker.output())
    return worker


def test_a_worker_a_minute_ahead_sends_nothing_twice_and_leaves_nothing_stuck(
    stoppable_broker, held_smtp, tmp_path, relay_process
):
    env = worker_env(stoppable_broker, held_smtp, EMAIL_TIMEOUT=int(HOLD_AT_MOST) + 10)
    relay_process(env)
    workers = []
    try:
        right = start_worker(env, tmp_path / "right.log", concurrency=1, queues="emails")
        workers.append(right)
        ahead = start_worker(ahead_env(env), tmp_path / "ahead.log", queues=NOT_EMAILS)
        workers.append(ahead)
        print(f"\nclocks: R {right.clock_ahead:+.1f} s, A {ahead.clock_ahead:+.1f} s")
        assert -2 < right.clock_ahead < 1
        assert SKEW_SECONDS - 2 < ahead.clock_ahead < SKEW_SECONDS + 1, ahead.output()[-2000:]

        product = ProductFactory(on_hand=10, low_stock_threshold=0)
        user, order_id = order_with_its_email_held(held_smtp, right, product)
        while_the_send_is_held(held_smtp, ahead, user, order_id)
        held_smtp.handler.let_go.set()
        wait_until(
            lambda: side_effects(user, order_id) == ALL_DONE,
            message=f"the held order; R's log:\n{right.output()[-3000:]}",
        )
        right.stop()
        ahead.stop()

        alone = start_worker(ahead_env(env), tmp_path / "alone.log")
        workers.append(alone)
        pairs = [(user, order_id), *checkouts_on_the_worker_ahead(product, alone)]
    finally:
        for worker in workers:
            worker.stop()
    assert_each_done_once(held_smtp, pairs, product)
    for worker in workers:
        assert [line for line in NEVER_LOGGED if line in worker.output()] == [], worker.output()


def order_with_its_email_held(smtp, worker, product):
    """A new customer's order, whose confirmation `worker` is sending and the SMTP server
    holds: (the customer, the order id)."""
    user = UserFactory(email="held@example.com")
    wait_until(lambda: smtp.messages_to(user.email), message="the welcome email")
    smtp.handler.hold_next = True
    order_id = checkout(user, product).json()["id"]
    assert smtp.handler.delaying.wait(timeout=30), worker.output()[-3000:]
    return user, order_id


def while_the_send_is_held(smtp, ahead, user, order_id) -> None:
    """What A does while R's send is held: the order's other side effects, a reconciler
    run that re-drives nothing, and a second delivery of the email that finds R's claim
    fresh (its retry is put off until the claim could be stale; it sends nothing)."""
    held_until = time.monotonic() + HOLD_AT_MOST  # the hold began a moment ago

    def left() -> float:  # what the three waits below share of the hold
        return max(held_until - time.monotonic(), 1.0)

    pending_email = {**ALL_DONE, "confirmation_email": "pending"}
    wait_until(
        lambda: side_effects(user, order_id) == pending_email,
        timeout=left(),
        message=f"A to do the inventory and the analytics; A's log:\n{ahead.output()[-3000:]}",
    )
    run = celery_app.send_task(RECONCILE, queue="default")
    assert run.get(timeout=left(), interval=0.2) == NOTHING_REDRIVEN

    # The email's message again, to a queue only A consumes: what a re-drive publishes, or
    # the broker gives back.
    celery_app.send_task(CONFIRMATION, args=[[order_id]], queue="default")
    met = wait_until(
        lambda: re.search(r"is being sent by another delivery|taking over a claim", ahead.output()),
        timeout=left(),
        message=f"A to meet R's claim; A's log:\n{ahead.output()[-3000:]}",
    )
    assert met[0] != "taking over a claim", ahead.output()[-3000:]
    assert (confirmations(smtp, order_id), smtp.handler.held_out) == (0, False)


def checkouts_on_the_worker_ahead(product, ahead) -> list[tuple]:
    """LATER_ORDERS new customers' orders, all their work done by A (R is stopped), the
    reconciler run on A again and again meanwhile (re-driving nothing); (user, order id)."""
    users = [UserFactory(email=f"later{n}@example.com") for n in range(LATER_ORDERS)]
    pairs = [(user, checkout(user, product).json()["id"]) for user in users]
    runs = []

    def all_done() -> bool:
        if not runs or runs[-1].ready():
            runs.append(celery_app.send_task(RECONCILE, queue="default"))
        return all(side_effects(user, order_id) == ALL_DONE for user, order_id in pairs)

    wait_until(
        all_done,
        timeout=60,
        interval=0.5,
        message=f"the later orders; A's log:\n{ahead.output()[-3000:]}",
    )
    assert [run.get(timeout=30, interval=0.2) for run in runs] == [NOTHING_REDRIVEN] * len(runs)
    return pairs


def assert_each_done_once(smtp, pairs, product) -> None:
    users, order_ids = [user for user, _ in pairs], [order_id for _, order_id in pairs]
    assert {o: confirmations(smtp, o) for o in order_ids} == dict.fromkeys(order_ids, 1)
    welcomed = [m["To"] for m in smtp.messages if m["Subject"] == "Welcome to Shopflow"]
    assert sorted(welcomed) == sorted(user.email for user in users)
    moved = StockMovement.objects.filter(order_item__order_id__in=order_ids)
    assert sorted(moved.values_list("order_item__order_id", flat=True)) == sorted(order_ids)
    recorded = AnalyticsEvent.objects.filter(order_id__in=order_ids)
    assert sorted(recorded.values_list("order_id", flat=True)) == sorted(order_ids)
    effects = OrderSideEffect.objects.filter(order_id__in=order_ids)
    assert set(effects.values_list("status", "redrives")) == {("done", 0)}
    product = Product.objects.get(pk=product.pk)
    assert (product.on_hand, product.reserved) == (10 - len(order_ids), 0)
