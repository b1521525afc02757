"""Shopflow on separate hosts (network namespaces on one machine: tests.support.hosts),
Redis the broker, and the network between them failing, with real traffic: checkouts
placed throughout, every side effect done exactly once. The windows are production's
(tests.support.shop_on_hosts: a job's 75 s lease, its kind woken again 30 s after a
wake-up while it is due, Redis's 90 s visibility timeout, a send cut at 15 s), so each
test's time is what the fault costs; a test prints what it measured. The same bed on
RabbitMQ: test_hosts_rabbitmq.py."""

import re
import threading
import time

import pytest
import redis

from tests.support.host_bed import (
    EMAIL_TASK,
    KINDS,
    PROMISE_SECONDS,
    assert_each_done_once,
    back_on_the_broker,
    check_out,
    email_attempts,
    place,
    shop_bed,
    wait_all_done,
    welcomed_customer,
    worker_host_cut_mid_send,
)
from tests.support.polling import wait_until
from tests.support.shop_on_hosts import brpop_of

# One bed of hosts for the module: its tests in one process (tests.support.isolation).
pytestmark = pytest.mark.xdist_group("hosts")


@pytest.fixture(scope="module")
def shop():
    with shop_bed() as shop:
        yield shop


def test_the_shop_runs_across_hosts(shop):
    order_ids = place(shop, 3)

    wait_all_done(shop, order_ids, timeout=60)
    assert_each_done_once(shop, order_ids)


def order_trace(shop, order_id: int) -> str:
    """The trace id of the order's checkout (kept with each of its side effects' jobs)."""
    [(traceparent,)] = shop.query(
        "SELECT trace_context->>'traceparent' FROM worker_job"
        " WHERE kind = 'confirmation_email' AND key = %s",
        (str(order_id),),
    )
    return traceparent.split("-")[1]


def spans_named(shop, trace_id: str, expected: set[str]):
    """The trace's spans, once it has one of each name in `expected` and its request's."""
    return wait_until(
        lambda: (
            (spans := shop.otlp.trace(trace_id))
            and expected <= {s.name for s in spans}
            and any(s.name.startswith("POST ") for s in spans)
            and spans
        ),
        timeout=30,
        message=f"the trace's spans; have {sorted({s.name for s in shop.otlp.trace(trace_id)})}",
    )


def test_one_orders_trace_is_whole_across_hosts(shop):
    """Traced over OTLP: the checkout's request on the web host and each of its jobs'
    attempts on the worker hosts (the job keeps the request's context; a wake-up carries
    none), one trace with one root; the web's log lines of that request name the trace."""
    [order_id] = place(shop, 1)
    wait_all_done(shop, [order_id], timeout=60)
    trace_id = order_trace(shop, order_id)
    expected = {f"job {kind}" for kind in KINDS}

    spans = spans_named(shop, trace_id, expected)
    ids = {span.span_id for span in spans}
    [root] = [span for span in spans if span.parent_id not in ids]
    assert root.name.startswith("POST ") and root.service == "shopflow-web"
    attempts = [span for span in spans if span.name in expected]
    assert sorted(span.name for span in attempts) == sorted(expected)  # one attempt each
    assert all(ancestors(spans, span)[-1] == root.name for span in attempts), spans
    hosts = {span.instance.split("-")[0] for span in attempts}  # <host>-<service>:<pid>
    assert hosts <= {"worker1", "worker2"}, hosts
    assert {span.service for span in attempts} == {"shopflow-worker"}
    assert f"trace={trace_id} order_created order={order_id}" in shop.log("web", "web")


def test_a_worker_host_cut_mid_task_costs_under_2_minutes_and_back_does_none_twice(shop):
    """tests.support.host_bed.worker_host_cut_mid_send, on Redis: the held job is claimed
    by the other host once its lease lapses (75 s); the wake-ups Redis handed to the cut
    host's waiting BRPOP after the cut are sent again 30 s after."""
    took = worker_host_cut_mid_send(shop)

    print(f"\nRedis: all done {took:.0f} s after the cut, by the other host")
    assert took <= PROMISE_SECONDS


def test_a_wake_up_lost_in_flight_to_a_cut_host_is_sent_again_and_done_in_its_trace(shop):
    """Redis pops a message for the BRPOP it answers: a consumer cut off before the
    answer reaches it never has it, so it is neither in its queue nor among the
    unacknowledged (kombu records those on arrival). A worker host is cut right after its
    mail worker asked for the next email (the other's frozen: the cut one is the only one
    waiting), then the dispatcher wakes the email's kind for a customer's checkout: the
    wake-up is lost with the cut host. The job is still due, unclaimed: the dispatcher
    wakes its kind again 30 s after, and the other host sends it within 2 minutes of the
    cut, at its first attempt, in the order's trace; back, the cut host does nothing
    twice."""
    [cut, other] = shop.workers
    api = welcomed_customer(shop)
    shop.freeze(other, "mail")
    # The checkout first, its job not woken while the dispatcher is frozen: woken right
    # after the cut, it reaches Redis inside the cut host's one-second
    # BRPOP however slowly the order is placed (a checkout placed after the cut took 0.8 s
    # on a loaded machine, and missed it).
    shop.freeze(shop.web, "dispatcher")
    try:
        order_id = check_out(shop, api)
        # Its second ask: each BRPOP waits a second (kombu's timeout) before the next, so
        # the frozen worker's last one has run out by then.
        cut.cut_after(shop.data, 6379, brpop_of("emails"), times=2)
        wait_until(cut.is_cut, interval=0.01, message=f"{cut.name}'s mail to ask for an email")
        cut.cut()
        cut_at = time.monotonic()
        with Pushes(shop.redis) as pushes:
            shop.thaw(shop.web, "dispatcher")
            [task_id] = wait_until(
                lambda: pushes.ids("emails", EMAIL_TASK)[:1], message="the email's wake-up"
            )
        woken = time.monotonic() - cut_at
        assert shop.broker_holds("emails", task_id) == "", f"woken {woken:.2f} s after the cut"
        shop.thaw(other, "mail")
        wait_all_done(shop, [order_id], timeout=PROMISE_SECONDS - (time.monotonic() - cut_at))
        took = time.monotonic() - cut_at
    finally:
        shop.thaw(shop.web, "dispatcher")
        shop.thaw(other, "mail")
        cut.restore()
    print(f"\nwake-up lost in flight ({woken:.2f} s after the cut); done {took:.0f} s after")
    assert email_attempts(shop, order_id) == 1  # the lost wake-up claimed nothing
    assert_done_in_its_trace(shop, order_id, by=other)

    back_on_the_broker(shop, cut)
    later = place(shop, 2)
    wait_all_done(shop, later, timeout=60)
    assert_each_done_once(shop, [order_id, *later])


class Pushes:
    """The task messages pushed to a Redis while the block runs, read off its MONITOR in a
    thread: `ids(queue, task name)`, in the order they were pushed."""

    ID = re.compile(r'[{ ]"id": "([0-9a-f-]{36})"')
    TASK = re.compile(r'"task": "([^"]+)"')

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.pushed: list[tuple[str, str, str]] = []  # (queue, task name, task id)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.listening = threading.Event()

    def _watch(self) -> None:
        with self.client.monitor() as monitor:
            self.listening.set()
            while not self.stop.is_set():
                # Waits a moment at most, so that the thread sees the block's end (a read
                # that timed out would close the connection, and the MONITOR with it).
                if not monitor.connection.can_read(timeout=0.2):
                    continue
                verb, _, rest = monitor.next_command()["command"].partition(" ")
                if verb.upper() == "LPUSH" and (found := self.ID.search(rest)):
                    task = self.TASK.search(rest)
                    queue = rest.partition(" ")[0]
                    self.pushed.append((queue, task[1] if task else "", found[1]))

    def ids(self, queue: str, task_name: str) -> list[str]:
        return [i for q, name, i in self.pushed if (q, name) == (queue, task_name)]

    def __enter__(self):
        self.thread.start()
        assert self.listening.wait(timeout=10), "Redis MONITOR did not start"
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        self.client.close()


def ancestors(spans, span) -> list[str]:
    """The names of `span`'s ancestors in `spans`, its parent first, the root last."""
    by_id = {each.span_id: each for each in spans}
    names = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        names.append(span.name)
    return names


def assert_done_in_its_trace(shop, order_id: int, *, by) -> None:
    """The email's one attempt continues the checkout's trace, under its request, on the
    host `by`."""
    attempt = "job confirmation_email"
    spans = spans_named(shop, order_trace(shop, order_id), {attempt})
    [ran] = [span for span in spans if span.name == attempt]
    under = ancestors(spans, ran)  # up to the trace's root: the checkout's request
    assert under and under[-1].startswith("POST "), under
    assert ran.instance.startswith(f"{by.name}-"), ran.instance


def test_the_web_host_cut_from_the_broker_still_takes_orders(shop):
    """The web host reaches PostgreSQL but not Redis: checkouts answer 201 (their side
    effects' jobs wait, their kinds not woken: the dispatcher runs on the web host); once
    the link returns, the dispatcher wakes them."""
    shop.web.drop_to(shop.data, 6379)
    try:
        order_ids = place(shop, 4)
        unclaimed = shop.query(
            "SELECT count(*) FROM worker_job WHERE kind = ANY(%s) AND key = ANY(%s)"
            " AND status = 'pending' AND attempts = 0",
            (sorted(KINDS), [str(order_id) for order_id in order_ids]),
        )
        assert unclaimed == [(12,)]  # three side effects an order, none claimed
    finally:
        shop.web.restore()

    wait_all_done(shop, order_ids, timeout=90)
    assert_each_done_once(shop, order_ids)


def test_latency_and_loss_between_every_host_lose_and_double_nothing(shop):
    """200 ms each way on every connection to the data host (PostgreSQL, Redis), and 5% of
    the packets every host sends lost."""
    shop.data.delay(0.2)
    for host in shop.network.hosts:
        host.lose(5)
    shop.timeout = 180  # each statement is a round trip of 400 ms or more
    try:
        started = time.monotonic()
        order_ids = place(shop, 3)
        placed = time.monotonic() - started
        wait_all_done(shop, order_ids, timeout=240)
        done = time.monotonic() - started
    finally:
        shop.timeout = 30
        for host in shop.network.hosts:
            host.restore()
    checkouts = sorted(shop.checkout_seconds[-3:])
    print(
        f"\n3 customers at once: checkouts {checkouts[0]:.1f} to {checkouts[-1]:.1f} s,"
        f" all registered and checked out {placed:.1f} s, all done {done:.1f} s"
    )
    assert_each_done_once(shop, order_ids)


def test_the_data_hosts_redis_restarted_empty_loses_nothing(shop):
    """Both worker hosts cut while the dispatcher wakes the checkouts' kinds in Redis;
    Redis restarts empty; the workers come back: the jobs are still due, unclaimed, and
    the dispatcher wakes their kinds again 30 s after its first wake-up."""
    for host in shop.workers:
        host.cut()
    try:
        order_ids = place(shop, 3)
        wait_until(
            lambda: all(queued(shop, queue) for queue in ("emails", "inventory", "analytics")),
            message="the dispatcher's wake-ups",
        )
        restarted_at = time.monotonic()
        shop.restart_redis_empty()
    finally:
        for host in shop.workers:
            host.restore()

    wait_all_done(shop, order_ids, timeout=PROMISE_SECONDS)
    print(f"\nall done {time.monotonic() - restarted_at:.0f} s after Redis restarted empty")
    assert_each_done_once(shop, order_ids)


def queued(shop, queue: str) -> int:
    """The messages waiting in a queue of the data host's Redis."""
    with redis.Redis.from_url(shop.redis, socket_timeout=5) as client:
        return client.llen(queue)
