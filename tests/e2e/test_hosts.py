"""Shopflow on separate hosts (network namespaces on one machine: tests.support.hosts),
and the network between them failing, with real traffic: checkouts placed throughout,
every side effect done exactly once. The windows are short (tests.support.shop_on_hosts:
a 3 s lease, a 20 s email claim, a 30 s deadline, the reconciler every 5 s); what each
fault costs with production's windows is in docs/reliability.md."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.hosts import namespaces_unavailable
from tests.support.otlp import OtlpReceiver
from tests.support.parts import part_missing
from tests.support.polling import wait_until
from tests.support.shop_on_hosts import ShopOnHosts
from tests.support.smtp import SmtpServer

KINDS = {"confirmation_email", "inventory", "analytics"}
# One bed of hosts for the module: its tests in one process (tests.support.isolation).
pytestmark = pytest.mark.xdist_group("hosts")


@pytest.fixture(scope="module")
def shop():
    if why := namespaces_unavailable():
        part_missing(why)
    shop = ShopOnHosts()
    try:
        with (
            SmtpServer(host=shop.network.address) as smtp,
            OtlpReceiver(shop.network.address) as otlp,
        ):
            shop.smtp, shop.otlp = smtp, otlp
            shop.environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
            shop.environment["OTEL_BSP_SCHEDULE_DELAY"] = "200"  # ms: spans out at once
            shop.start(smtp.port)
            shop.product = product_with_stock(shop)
            yield shop
    finally:
        shop.close()


def product_with_stock(shop) -> int:
    products = shop.customer("catalog-reader").get(f"{shop.base}/api/products/", timeout=30)
    return max(products.json()["results"], key=lambda product: product["available"])["id"]


_customers = iter(range(1, 10_000))


def place(shop, count: int) -> list[int]:
    """`count` checkouts by new customers, placed together; their order ids (all 201)."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: check_out(shop, new_customer(shop)[0]), range(count)))


def new_customer(shop):
    """A new customer's API session, and their email address."""
    username = f"host-customer-{next(_customers)}"
    return shop.customer(username), f"{username}@example.com"


def check_out(shop, api) -> int:
    response = shop.checkout(api, shop.product)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def order_with_its_confirmation_held(shop) -> int:
    """An order whose confirmation email the mail server holds at RCPT (the customer's
    welcome email out first); its id, once a worker host is mid-send and has leased it."""
    api, address = new_customer(shop)
    wait_until(lambda: shop.smtp.messages_to(address), message="the welcome email")
    shop.smtp.handler.stall_next_rcpt = 600
    order_id = check_out(shop, api)
    assert shop.smtp.handler.rcpt_stalled.wait(timeout=30), shop.logs()
    lease = "SELECT 1 FROM side_effects_sideeffectlease WHERE order_id = %s AND kind = %s"
    wait_until(  # a worker leases what it has held for a second (worker/leases.py)
        lambda: shop.query(lease, (order_id, "confirmation_email")), message="the lease"
    )
    return order_id


def all_done(shop, order_ids: list[int]) -> bool:
    effects = shop.side_effects(order_ids)
    return all(effects[order_id] == dict.fromkeys(KINDS, "done") for order_id in effects)


def wait_all_done(shop, order_ids, timeout=90):
    wait_until(
        lambda: all_done(shop, order_ids),
        timeout=timeout,
        interval=0.5,
        message=f"every side effect of {order_ids}; logs:\n{shop.logs()}",
    )


def assert_each_done_once(shop, order_ids: list[int]) -> None:
    """One confirmation at the mail server, one stock movement, one analytics record."""
    subjects = [message["Subject"] for message in shop.smtp.messages]
    assert {o: subjects.count(f"Your Shopflow order #{o}") for o in order_ids} == dict.fromkeys(
        order_ids, 1
    )
    for table, join in (
        ("store_stockmovement m JOIN store_orderitem i ON i.id = m.order_item_id", "i.order_id"),
        ("analytics_app_analyticsevent", "order_id"),
    ):
        counts = dict(
            shop.query(
                f"SELECT {join}, count(*) FROM {table} WHERE {join} = ANY(%s) GROUP BY {join}",
                (order_ids,),
            )
        )
        assert counts == dict.fromkeys(order_ids, 1), table


def test_the_shop_runs_across_hosts(shop):
    order_ids = place(shop, 3)

    wait_all_done(shop, order_ids, timeout=60)
    assert_each_done_once(shop, order_ids)


TASKS = [
    "email_app.send_confirmation_email",
    "store.apply_inventory",
    "analytics_app.record_analytics",
]


def test_one_orders_trace_is_whole_across_hosts(shop):
    """Traced over OTLP: the checkout's request on the web host, the relay's publication
    (its context kept in the outbox row), and each task's run on the worker hosts, one
    trace with one root; the web's log lines of that request name the trace."""
    [order_id] = place(shop, 1)
    wait_all_done(shop, [order_id], timeout=60)
    [(traceparent,)] = shop.query(
        "SELECT trace_context->>'traceparent' FROM worker_outboxmessage"
        " WHERE task_name = %s AND args::text = %s",
        (TASKS[0], f"[[{order_id}]]"),
    )
    trace_id = traceparent.split("-")[1]
    expected = {*(f"outbox publish {task}" for task in TASKS), *(f"run/{task}" for task in TASKS)}

    spans = wait_until(
        lambda: (
            (spans := shop.otlp.trace(trace_id))
            and expected <= {s.name for s in spans}
            and any(s.name.startswith("POST ") for s in spans)
            and spans
        ),
        timeout=30,
        message=f"the trace's spans; have {sorted({s.name for s in shop.otlp.trace(trace_id)})}",
    )
    ids = {span.span_id for span in spans}
    [root] = [span for span in spans if span.parent_id not in ids]
    assert root.name.startswith("POST ") and root.service == "shopflow-web"
    hosts = {span.instance.split(":")[0] for span in spans}
    assert "web" in hosts and hosts & {"worker1", "worker2"}, hosts
    assert {"shopflow-web", "shopflow-worker"} <= {s.service for s in spans}
    # The relay service published it, or beat's relay task on a worker (its safety net).
    publishers = {s.service for s in spans if s.name.startswith("outbox publish")}
    assert publishers <= {"shopflow-relay", "shopflow-worker"}, publishers
    assert f"trace={trace_id} order_created order={order_id}" in shop.log("web", "web")


def test_a_worker_host_cut_mid_task_leaves_its_work_to_the_other_and_back_does_none_twice(shop):
    """The confirmation email's worker host is cut off while its SMTP server holds the
    RCPT; its lease lapses, the reconciler re-drives the email, the other worker host
    takes the stale claim over and sends, and does the checkouts placed during the cut.
    Then the link comes back, the other host's work done: the cut host's send was cut at
    its deadline (half the claim, long past by then); once it reaches the database again
    it finds its claim taken over and the email sent, and sends nothing; the shop goes on
    with both hosts."""
    first = order_with_its_confirmation_held(shop)
    [cut] = [host for host in shop.workers if host.ip == shop.smtp.handler.stalled_peer[0]]
    cut.cut()
    cut_at = time.monotonic()
    try:
        order_ids = [first, *place(shop, 4)]
        wait_all_done(shop, order_ids, timeout=120)
        print(f"\nall done {time.monotonic() - cut_at:.0f} s after the cut, by the other host")
        assert_each_done_once(shop, order_ids)
        # The held email came back by its lapsed lease (beat's reconciler runs on a worker).
        lapsed = f"order {first} confirmation_email still pending and its worker's lease lapsed"
        logs = "".join(shop.log(host.name, "worker") for host in shop.workers)
        assert lapsed in logs, logs[-3000:]
    finally:
        cut.restore()
        shop.smtp.handler.rcpt_stalled.clear()

    wait_until(
        lambda: "SendTimeout" in shop.log(cut.name, "mail"),
        timeout=60,
        message=f"the cut host's send to end; its log:\n{shop.log(cut.name, 'mail')[-3000:]}",
    )
    later = place(shop, 3)
    wait_all_done(shop, later, timeout=60)
    assert_each_done_once(shop, order_ids + later)


def test_the_web_host_cut_from_the_broker_still_takes_orders(shop):
    """The web host reaches PostgreSQL but not Redis: checkouts answer 201 (their side
    effects wait in the outbox); once the link returns, the relay publishes them."""
    shop.web.drop_to(shop.data, 6379)
    try:
        order_ids = place(shop, 4)
        unpublished = shop.query(
            "SELECT count(*) FROM worker_outboxmessage WHERE published_at IS NULL"
            " AND args::text = ANY(%s)",
            ([f"[[{order_id}]]" for order_id in order_ids],),
        )
        assert unpublished == [(12,)]  # three side effects an order, none published
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
    """Both worker hosts cut while checkouts queue their tasks in Redis; Redis restarts
    empty; the workers come back: the reconciler re-drives what the queues lost."""
    for host in shop.workers:
        host.cut()
    try:
        order_ids = place(shop, 3)
        wait_until(
            lambda: (
                shop.query("SELECT count(*) FROM worker_outboxmessage WHERE published_at IS NULL")
                == [(0,)]
            ),
            message="the relay to publish",
        )
        shop.restart_redis_empty()
    finally:
        for host in shop.workers:
            host.restore()

    wait_all_done(shop, order_ids, timeout=120)
    assert_each_done_once(shop, order_ids)
