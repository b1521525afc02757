"""A worker whose clock runs a minute ahead (Debian's libfaketime) beside one whose clock is
right, on Redis and on RabbitMQ: nothing is claimed or sent twice, nothing is stuck.

A job's lease and due time and the dispatcher's reads are all the database's clock
(core.clock): the worker ahead sees a lease taken a moment ago as a moment old, and a
retry it writes as due when the database says. Under per-host clocks
it would see the other worker's lease already lapsed (the skew is longer than the lease
the test runs with), claim that job again and send its email a second time, and its own
retries would wait a minute more than they ask.

The test: worker R (clock right, the `emails` queue only) sends an order's confirmation,
which the SMTP server holds; worker A (a minute ahead, every other queue) does the order's
other side effects. While the send is held, a wake-up of the email's kind goes to
`default`, which only A consumes (what the dispatcher sends, again, for a job it sees
due): A's run claims nothing, R's lease holds. The send goes on; R is stopped; a worker a
minute ahead on every queue then completes more checkouts alone, the dispatcher running
all along, one of them after an SMTP refusal that A retries. Each order's email went out
once, its stock moved once, its analytics recorded once, and each job took one attempt
(the refused email two).

The send is held for less than the 30 s at which it is cut here, so everything A does
while it is held fits there: A is started before the order, and R's socket timeout is set
above the hold (at 10 s, production's, R's send timed out and was retried before A met
its lease: a test of timeouts, not of clocks). The lease is 50 s here (over a 40 s hard
time limit whose soft one the held send fits under, and over half that soft limit plus
the send's cut, as the settings' windows require): shorter than the skew, so that a
comparison on A's clock would fail at once.

One comparison of two hosts' clocks stays, and the project cannot move it to the
database: the broker's own, on Redis. kombu stamps a message it hands a worker with that
worker's time(), and every worker's sweep gives back those older, by its own time(), than
the visibility timeout (kombu.transport.redis QoS.restore_visible). A's sweep sees R's
messages a minute older than they are: with production's 90 s, it gives back one that R
has held 30 s unacknowledged (a wake-up still waiting its turn, a plain task's message in
its run). That costs at most a second delivery of it, which the leases absorb. A runs
here with the timeout plus the skew, so that its sweep gives back what an unskewed one
would, and never during this test (R holds nothing for long): what the test sees is the
project's own comparisons, whatever the pace of CI. (RabbitMQ gives a message back when
its consumer's connection closes, on no client's clock.)
"""

import asyncio
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests
from django.conf import settings

from analytics_app.models import AnalyticsEvent
from devstack.stack import free_port
from store.models import Product, StockMovement
from tests.factories import ProductFactory, UserFactory
from tests.support.clocks import clock_ahead_env, log_clock_ahead
from tests.support.jobs import order_jobs
from tests.support.metrics import Metrics
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, worker_env
from tests.support.smtp import SmtpHandler, SmtpServer
from worker.celery import app as celery_app

from .test_worker_process import ALL_DONE, checkout, email_job, side_effects

# PostgreSQL: SQLite's now() is the clock of the process that runs the statement.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SKEW_SECONDS = 60
# The SMTP server holds the confirmation until the test lets it go, this long at most:
# under the 30 s at which a send is cut here (SHOPFLOW_EMAIL_SEND_SECONDS).
HOLD_AT_MOST = 25.0
# A lease shorter than the skew (module docstring), over a hard time limit the held send
# fits under (its soft limit, 32 s, is past the hold).
WINDOWS = {
    "CELERY_TASK_TIME_LIMIT": 40,
    "SHOPFLOW_EMAIL_SEND_SECONDS": 30,
    "SHOPFLOW_JOB_LEASE_SECONDS": 50,
}
LATER_ORDERS = 3
# The later orders are done well within the skew: a retry due by A's clock would not be.
LATER_DONE_WITHIN = 30
CONFIRMATION = "email_app.send_confirmation_email"
NOT_EMAILS = "default,inventory,analytics"  # A's, while R sends the held email
# Lines a worker logs when an attempt was lost or outrun, or the worker broke (under
# libfaketime: a call of it refused, tests.support.clocks).
NEVER_LOGGED = (
    "its last attempt lost its worker",
    "its lease ran out before it ended",
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


def ahead_env(env, tmp_path, name: str) -> dict[str, str]:
    """A worker's a minute ahead: its clock SKEW_SECONDS ahead, its Redis sweep as an
    unskewed worker's (module docstring), its task runs counted on a /metrics port of its
    own (`metrics_port`)."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    metrics_dir = tmp_path / f"{name}-metrics"
    metrics_dir.mkdir()
    env = {
        **env,
        "CELERY_VISIBILITY_TIMEOUT": str(visibility + SKEW_SECONDS),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "SHOPFLOW_WORKER_METRICS_PORT": str(free_port()),
    }
    return clock_ahead_env(env, SKEW_SECONDS)


def start_worker(env, log_path, **options) -> WorkerProcess:
    """A worker, started, and how far ahead its clock is, read off its "ready" line."""
    worker = WorkerProcess(env, log_path, **options).start()
    worker.clock_ahead = log_clock_ahead(worker.output())
    return worker


def runs_ended(worker, task_name: str) -> float:
    """How many runs of `task_name` the worker has ended, by its /metrics."""
    port = worker.env["SHOPFLOW_WORKER_METRICS_PORT"]
    scraped = Metrics(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
    return sum(
        s.value
        for s in scraped.samples
        if s.name == "shopflow_task_runs_total" and s.labels["task"] == task_name
    )


def test_a_worker_a_minute_ahead_sends_nothing_twice_and_leaves_nothing_stuck(
    stoppable_broker, held_smtp, tmp_path, dispatcher_process
):
    env = worker_env(stoppable_broker, held_smtp, EMAIL_TIMEOUT=int(HOLD_AT_MOST) + 10, **WINDOWS)
    dispatcher_process(env)
    workers = []
    try:
        right = start_worker(env, tmp_path / "right.log", concurrency=1, queues="emails")
        workers.append(right)
        ahead = start_worker(
            ahead_env(env, tmp_path, "ahead"), tmp_path / "ahead.log", queues=NOT_EMAILS
        )
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

        alone = start_worker(ahead_env(env, tmp_path, "alone"), tmp_path / "alone.log")
        workers.append(alone)
        later = checkouts_on_the_worker_ahead(held_smtp, product, alone)
        pairs = [(user, order_id), *later]
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
    """What A does while R's send is held: the order's other side effects, and a run of
    the email's kind, woken on a queue only A consumes, that claims nothing: R's lease,
    50 s by the database's clock, holds, though A's clock is a minute past its start."""
    held_until = time.monotonic() + HOLD_AT_MOST  # the hold began a moment ago

    def left() -> float:  # what the two waits below share of the hold
        return max(held_until - time.monotonic(), 1.0)

    held = email_job(order_id)
    assert held.attempts == 1 and held.lease_id is not None  # R's claim
    pending_email = {**ALL_DONE, "confirmation_email": "pending"}
    wait_until(
        lambda: side_effects(user, order_id) == pending_email,
        timeout=left(),
        message=f"A to do the inventory and the analytics; A's log:\n{ahead.output()[-3000:]}",
    )

    # A wake-up of the email's kind, to a queue only A consumes: what the dispatcher
    # sends, again, for a job it sees due.
    celery_app.send_task(CONFIRMATION, queue="default")
    wait_until(
        lambda: runs_ended(ahead, CONFIRMATION) == 1,
        timeout=left(),
        message=f"A to run the email's wake-up; A's log:\n{ahead.output()[-3000:]}",
    )
    after = email_job(order_id)
    assert (after.attempts, after.lease_id, after.status) == (1, held.lease_id, "pending")
    assert (confirmations(smtp, order_id), smtp.handler.held_out) == (0, False)


def checkouts_on_the_worker_ahead(smtp, product, ahead) -> list[tuple]:
    """LATER_ORDERS new customers' orders, all their work done by A (R is stopped), the
    first one's email refused once (451): A retries it when the database says it is due,
    not a minute late. (user, order id) each."""
    users = [UserFactory(email=f"later{n}@example.com") for n in range(LATER_ORDERS)]
    wait_until(
        lambda: all(smtp.messages_to(user.email) for user in users),
        message=f"the welcome emails; A's log:\n{ahead.output()[-3000:]}",
    )
    smtp.handler.refuse_next = 1
    placed = time.monotonic()
    pairs = [(user, checkout(user, product).json()["id"]) for user in users]
    wait_until(
        lambda: all(side_effects(user, order_id) == ALL_DONE for user, order_id in pairs),
        timeout=LATER_DONE_WITHIN,
        interval=0.5,
        message=f"the later orders; A's log:\n{ahead.output()[-3000:]}",
    )
    print(f"later orders done {time.monotonic() - placed:.1f} s after the first was placed")
    assert "transient error, attempt 1/" in ahead.output()
    return pairs


def assert_each_done_once(smtp, pairs, product) -> None:
    """Each order's work done once, at one attempt a job, but the refused email's two."""
    users, order_ids = [user for user, _ in pairs], [order_id for _, order_id in pairs]
    assert {o: confirmations(smtp, o) for o in order_ids} == dict.fromkeys(order_ids, 1)
    welcomed = [m["To"] for m in smtp.messages if m["Subject"] == "Welcome to Shopflow"]
    assert sorted(welcomed) == sorted(user.email for user in users)
    moved = StockMovement.objects.filter(order_item__order_id__in=order_ids)
    assert sorted(moved.values_list("order_item__order_id", flat=True)) == sorted(order_ids)
    recorded = AnalyticsEvent.objects.filter(order_id__in=order_ids)
    assert sorted(recorded.values_list("order_id", flat=True)) == sorted(order_ids)
    jobs = order_jobs().filter(key__in=[str(o) for o in order_ids])
    attempts = {(kind, int(key)): n for kind, key, n in jobs.values_list("kind", "key", "attempts")}
    [refused] = [o for (kind, o), n in attempts.items() if kind == "confirmation_email" and n == 2]
    expected = {(kind, o): 1 for kind in ALL_DONE for o in order_ids}
    assert attempts == {**expected, ("confirmation_email", refused): 2}
    assert set(jobs.values_list("status", flat=True)) == {"done"}
    product = Product.objects.get(pk=product.pk)
    assert (product.on_hand, product.reserved) == (10 - len(order_ids), 0)
