"""An order's life with real parts (docs/architecture.md, "Side effects"): PostgreSQL, a Redis
broker, `celery worker` processes and the dispatcher, a web process served as in
production, an SMTP server and a webhook receiver that verifies with the reference
library. A cancel and a fulfil that race: exactly one wins, and only its consequences
happen. A cancelled order's stock comes back exactly once, whether the cancel came before,
during (either transaction first on the order's row) or after its inventory task, and
when the worker releasing it is killed mid-way.
The customer never gets the confirmation after the cancellation.

The windows are short ones (tests.e2e.test_worker_process.SHORT_WINDOWS: a job's lease of
15 s), so that a lost attempt, or a cancellation email waiting for its confirmation's
lease, costs seconds here."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import psycopg
import pytest
import requests
from psycopg import sql

from notifications.models import Notification
from store.models import StockMovement
from tests.factories import ProductFactory, UserFactory
from tests.support.clients import client_for
from tests.support.orders import inventory_status, place_order, stock
from tests.support.polling import wait_for_a_lock_wait, wait_until
from tests.support.processes import WorkerProcess, database_url, worker_env
from tests.support.smtp import body_text
from tests.support.webhooks import WebhookReceiver, hook
from webhooks.events import ORDER_CANCELLED, ORDER_FULFILLED
from webhooks.models import Endpoint
from worker.models import Job

from .test_notification_stream import token_header
from .test_worker_process import ALL_DONE, SHORT_WINDOWS, side_effects

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVERY_QUEUE = "default,emails,inventory,analytics,webhooks"
# The order's side effects as the API shows them once all are done.
CANCELLED_DONE = {**ALL_DONE, "stock_release": "done", "cancellation_email": "done"}
FULFILLED_DONE = {**ALL_DONE, "shipping_email": "done"}
REQUEST_SECONDS = 30


# --- The parts ---------------------------------------------------------------------


def shop_env(redis_server, smtp_server, **overrides) -> dict[str, str]:
    """A worker's and the dispatcher's environment: short windows, webhooks to loopback."""
    windows = {**SHORT_WINDOWS, **overrides}
    return worker_env(redis_server, smtp_server, SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK=1, **windows)


@pytest.fixture
def workers(tmp_path):
    """`workers(env, name, **options)`: a `celery worker` on every queue; stopped after."""
    started = []

    def start(env, name: str = "worker", **options) -> WorkerProcess:
        options.setdefault("queues", EVERY_QUEUE)
        started.append(WorkerProcess(env, tmp_path / f"{name}.log", **options).start())
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


class RowHeld:
    """`with RowHeld(instance) as held:` another transaction (a psycopg connection of the
    test's) holds the instance's row lock (FOR UPDATE), as a checkout, a staff edit or a
    deletion would, until `held.let_go()` commits it (or the block ends). Who waits on it
    is read with tests.support.polling.wait_for_a_lock_wait, which counts this test's
    database only (a suite running beside this one on the server has waits of its own)."""

    def __init__(self, instance):
        self.instance = instance

    def __enter__(self):
        lock = sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE")
        self.conn = psycopg.connect(database_url())
        table = sql.Identifier(self.instance._meta.db_table)
        self.conn.execute(lock.format(table), (self.instance.pk,))
        return self

    def let_go(self) -> float:
        """Commit: the row is free; when (time.monotonic())."""
        self.conn.commit()
        return time.monotonic()

    def __exit__(self, *exc):
        self.conn.close()


# --- The customer's and staff's requests, over HTTP --------------------------------


# `headers`: tests.e2e.test_notification_stream.token_header(user), read in the test's own
# thread (a thread that reads the database keeps a connection of its own open).


def post_over_http(site, headers: dict, path: str, body: dict) -> requests.Response:
    return requests.post(f"{site.base}{path}", json=body, headers=headers, timeout=REQUEST_SECONDS)


def cancel_over_http(site, headers: dict, order_id: int) -> requests.Response:
    return post_over_http(site, headers, f"/api/orders/{order_id}/cancel/", {"reason": "Changed"})


def fulfil_over_http(site, headers: dict, order_id: int) -> requests.Response:
    body = {"tracking_number": f"TRK-{order_id}"}
    return post_over_http(site, headers, f"/api/orders/{order_id}/fulfil/", body)


def cancel(user, order_id: int):
    """The customer's cancel through the API, in this process."""
    return client_for(user).post(f"/api/orders/{order_id}/cancel/", {}, format="json")


# --- What an order left behind -----------------------------------------------------


def order_emails(smtp_server, order_id: int) -> list[str]:
    """The order's emails the SMTP server took, in the order it took them."""
    subject = f"Your Shopflow order #{order_id}"
    kinds = {
        subject: "confirmation",
        f"{subject} is cancelled": "cancellation",
        f"{subject} is on its way": "shipping",
    }
    return [kinds[m["Subject"]] for m in smtp_server.messages if m["Subject"] in kinds]


def ledger(order_id: int) -> list[tuple[int, str, int]]:
    """The order's stock movements: (product id, reason, delta), sorted."""
    movements = StockMovement.objects.filter(order_item__order_id=order_id)
    return sorted(movements.values_list("product_id", "reason", "delta"))


def all_done(expected: dict[int, dict], users: dict[int, object]) -> bool:
    return all(side_effects(users[o], o) == states for o, states in expected.items())


# --- 1. The race -------------------------------------------------------------------

ORDERS = 12
ON_HAND = 100


def race(site, staff, customers: dict[int, object]) -> dict[int, tuple]:
    """For each order, its customer's cancel and staff's fulfil, all started at once (a
    barrier): {order id: (the cancel's answer, the fulfil's answer)}."""
    as_staff = token_header(staff)
    calls = {
        order_id: (
            partial(cancel_over_http, site, token_header(user), order_id),
            partial(fulfil_over_http, site, as_staff, order_id),
        )
        for order_id, user in customers.items()
    }
    barrier = threading.Barrier(2 * len(calls), timeout=REQUEST_SECONDS)

    def together(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=2 * len(calls)) as pool:
        started = {}
        for n, (order_id, (to_cancel, to_fulfil)) in enumerate(calls.items()):
            # Each first at the barrier for half the orders: neither is always ahead.
            first, second = (to_cancel, to_fulfil) if n % 2 else (to_fulfil, to_cancel)
            futures = {call: pool.submit(together, call) for call in (first, second)}
            started[order_id] = (futures[to_cancel], futures[to_fulfil])
        return {
            order_id: tuple(f.result(timeout=REQUEST_SECONDS * 2) for f in pair)
            for order_id, pair in started.items()
        }


def the_winners(answers: dict[int, tuple]) -> dict[int, str]:
    """{order id: "cancelled" or "fulfilled"}: of each order's two answers one is 200 (the
    order as it now is) and the other 409, naming the status that refused it; no 5xx."""
    winners = {}
    for order_id, (cancel_answer, fulfil_answer) in answers.items():
        pair = (cancel_answer, fulfil_answer)
        codes = [answer.status_code for answer in pair]
        assert sorted(codes) == [200, 409], (order_id, [answer.text for answer in pair])
        winner, loser = pair if codes[0] == 200 else pair[::-1]
        winners[order_id] = winner.json()["status"]
        assert winners[order_id] in loser.json()["detail"]
    return winners


def test_a_cancel_and_a_fulfil_that_race_exactly_one_wins_and_only_its_consequences_happen(
    own_redis, smtp_server, dispatcher_process, web, workers
):
    env = shop_env(own_redis, smtp_server)
    dispatcher_process(env)
    products = [ProductFactory(on_hand=ON_HAND, low_stock_threshold=0) for _ in range(3)]
    staff = UserFactory(is_staff=True)
    customers, lines = {}, {}
    for n in range(ORDERS):
        user = UserFactory(email=f"racer{n}@example.com")
        wanted = [(products[n % 3], 1 + n % 2), (products[(n + 1) % 3], 1)]
        order_id = place_order(user.customer, *wanted)["id"]
        customers[order_id], lines[order_id] = user, wanted

    with WebhookReceiver() as receiver:
        endpoint = hook(receiver)
        Endpoint.objects.filter(pk=endpoint.pk).update(events=[ORDER_CANCELLED, ORDER_FULFILLED])
        site = web(CELERY_BROKER_URL=own_redis.url)
        worker = workers(env)  # the checkouts' side effects go on while the race runs

        winners = the_winners(race(site, staff, customers))
        print(f"\nwinners: {sorted(winners.values())}")
        expected = {
            o: CANCELLED_DONE if won == "cancelled" else FULFILLED_DONE
            for o, won in winners.items()
        }
        wait_until(
            lambda: all_done(expected, customers) and len(receiver.at()) >= ORDERS,
            timeout=120,
            interval=0.5,
            message=f"every side effect and webhook; worker log:\n{worker.output()[-3000:]}",
        )
        received = receiver.at()

    cancelled = sorted(o for o, won in winners.items() if won == "cancelled")
    # The cancel's own analytics record, and none for a fulfilled order.
    analytics = Job.objects.filter(kind="analytics_cancellation")
    assert sorted(analytics.values_list("key", "status")) == sorted(
        (str(o), "done") for o in cancelled
    )
    # The customer told of the winner's change only.
    for order_id, user in customers.items():
        told = Notification.objects.filter(recipient=user).exclude(kind="order_placed")
        assert list(told.values_list("kind", flat=True)) == [f"order_{winners[order_id]}"]
    assert_the_winners_emails(smtp_server, winners)
    assert_the_winners_webhooks(received, endpoint, winners, customers)
    for product in products:
        standing = sum(
            quantity
            for order_id, wanted in lines.items()
            if winners[order_id] != "cancelled"
            for ordered, quantity in wanted
            if ordered == product
        )
        assert stock(product) == (ON_HAND - standing, 0), product  # refreshed
        assert product.available == ON_HAND - standing


def assert_the_winners_emails(smtp_server, winners: dict[int, str]) -> None:
    """Per order, the winner's email once and never the loser's; a cancelled order's
    confirmation, if it went out at all, before its cancellation; the tracking number in
    the shipping email."""
    for order_id, won in winners.items():
        emails = order_emails(smtp_server, order_id)
        if won == "cancelled":
            assert emails in (["cancellation"], ["confirmation", "cancellation"]), order_id
        else:
            assert sorted(emails) == ["confirmation", "shipping"], (order_id, emails)
            [shipped] = [
                m
                for m in smtp_server.messages
                if m["Subject"].endswith(f"#{order_id} is on its way")
            ]
            assert f"TRK-{order_id}" in body_text(shipped)


def assert_the_winners_webhooks(received, endpoint, winners, customers) -> None:
    """One event per order, of the winner's type, its sequence 2 (after order.created),
    its customer's email, signed with the endpoint's secret (the reference library)."""
    by_order: dict[int, list] = {}
    for request in received:
        by_order.setdefault(request.event["data"]["id"], []).append(request)
    assert sorted(by_order) == sorted(winners)
    for order_id, [request] in by_order.items():
        event = request.event
        assert event["type"] == f"order.{winners[order_id]}"
        assert event["data"]["status"] == winners[order_id]
        assert event["data"]["sequence"] == 2
        assert event["data"]["customer"]["email"] == customers[order_id].email
        assert request.verified_by == [endpoint.secret]


# --- 2. A cancel before, during and after the inventory task -----------------------


def cancel_while_the_inventory_waits(site, user, order_id, product, start_worker):
    """The worker's inventory transaction holds the order's row and waits on the product's
    (another transaction holds it); the cancel, over HTTP, comes meanwhile; then the
    product's row is let go. (The cancel's answer, whether it came only after.)"""
    as_customer = token_header(user)
    # Its first request imports what answers it: not while the row is held.
    url = f"{site.base}/api/orders/{order_id}/"
    assert requests.get(url, headers=as_customer, timeout=REQUEST_SECONDS).ok
    with RowHeld(product) as held, ThreadPoolExecutor(max_workers=1) as pool:
        start_worker()
        wait_for_a_lock_wait(timeout=30)  # the inventory, on the product's row

        def timed_cancel():
            return cancel_over_http(site, as_customer, order_id), time.monotonic()

        cancelling = pool.submit(timed_cancel)
        wait_for_a_lock_wait(timeout=30, waiting=2)  # the cancel too, on the order's row
        let_go = held.let_go()
        answer, answered = cancelling.result(timeout=REQUEST_SECONDS * 2)
    return answer, answered > let_go


def inventory_while_the_cancel_waits(site, user, order_id, start_worker) -> requests.Response:
    """The other way round: the cancel's transaction holds the order's row and waits (its
    customer's notification refers to their user's row, which another transaction holds);
    the worker's inventory transaction comes meanwhile, and waits on the order's row; then
    the user's row is let go. The cancel's answer."""
    as_customer = token_header(user)
    url = f"{site.base}/api/orders/{order_id}/"
    assert requests.get(url, headers=as_customer, timeout=REQUEST_SECONDS).ok  # warmed up
    with RowHeld(user) as held, ThreadPoolExecutor(max_workers=1) as pool:
        cancelling = pool.submit(cancel_over_http, site, as_customer, order_id)
        wait_for_a_lock_wait(timeout=30)  # the cancel, on the user's row
        start_worker()
        wait_for_a_lock_wait(timeout=30, waiting=2)  # the inventory, on the order's row
        held.let_go()
        return cancelling.result(timeout=REQUEST_SECONDS * 2)


@pytest.mark.parametrize("when", ["before", "during", "during-cancel-first", "after"])
def test_a_cancel_before_during_or_after_the_inventory_task_gives_the_stock_back_exactly_once(
    when, own_redis, smtp_server, dispatcher_process, web, workers
):
    env = shop_env(own_redis, smtp_server)
    dispatcher_process(env)
    site = web(CELERY_BROKER_URL=own_redis.url)
    mug, tee = (ProductFactory(on_hand=n, low_stock_threshold=0) for n in (10, 5))
    user = UserFactory()
    order_id = place_order(user.customer, (mug, 3), (tee, 2))["id"]

    if when == "before":  # no worker has run the inventory: the cancel finds it pending
        answer = cancel_over_http(site, token_header(user), order_id)
        workers(env)
    elif when == "during":
        start = partial(workers, env)
        answer, waited = cancel_while_the_inventory_waits(site, user, order_id, mug, start)
        # What happens: the cancel waits for the inventory transaction (both lock the
        # order's row), which then moves the units; the release puts them back on hand.
        assert waited
    elif when == "during-cancel-first":
        # The inventory then sees the order cancelled, and moves nothing.
        answer = inventory_while_the_cancel_waits(site, user, order_id, partial(workers, env))
    else:
        worker = workers(env)
        wait_until(
            lambda: inventory_status(order_id) == "done",
            timeout=60,
            message=f"the inventory; worker log:\n{worker.output()[-3000:]}",
        )
        assert stock(mug) == (7, 0)
        answer = cancel_over_http(site, token_header(user), order_id)

    assert answer.status_code == 200, answer.text
    wait_until(
        lambda: side_effects(user, order_id) == CANCELLED_DONE,
        timeout=60,
        interval=0.5,
        message="the cancelled order's side effects",
    )
    assert (stock(mug), stock(tee)) == ((10, 0), (5, 0))
    if when in ("before", "during-cancel-first"):  # nothing sold: the reservation back
        assert ledger(order_id) == [(mug.pk, "release", 0), (tee.pk, "release", 0)]
    else:  # sold, then put back on hand
        assert ledger(order_id) == [
            (mug.pk, "release", 3),
            (mug.pk, "sale", -3),
            (tee.pk, "release", 2),
            (tee.pk, "sale", -2),
        ]


# --- 3. A worker killed mid-release ------------------------------------------------


def test_a_worker_killed_mid_release_leaves_it_to_another_worker_which_releases_once(
    own_redis, smtp_server, dispatcher_process, workers
):
    """The release waits on a product's row (another transaction holds it) when its
    worker's whole process group is SIGKILLed: its transaction never commits. Another
    worker claims the job once its lease lapses (the second attempt) and releases once."""
    env = shop_env(own_redis, smtp_server)
    dispatcher_process(env)
    mug, tee = (ProductFactory(on_hand=n, low_stock_threshold=0) for n in (10, 5))
    user = UserFactory()
    order_id = place_order(user.customer, (mug, 3), (tee, 2))["id"]
    doomed = workers(env, "doomed", concurrency=1)
    wait_until(
        lambda: side_effects(user, order_id) == ALL_DONE,
        timeout=60,
        message=f"the checkout's side effects; log:\n{doomed.output()[-3000:]}",
    )
    assert (stock(mug), stock(tee)) == ((7, 0), (3, 0))

    with RowHeld(mug) as held:
        assert cancel(user, order_id).status_code == 200
        wait_for_a_lock_wait(timeout=30)  # the release, on the product's row
        release = Job.objects.get(kind="stock_release", key=str(order_id))
        assert (release.status, release.attempts) == ("pending", 1)
        doomed.kill()
        held.let_go()
    survivor = workers(env, "survivor", concurrency=1)

    wait_until(
        lambda: side_effects(user, order_id) == CANCELLED_DONE,
        timeout=60,
        interval=0.5,
        message=f"the release; survivor's log:\n{survivor.output()[-3000:]}",
    )
    assert "its last attempt lost its worker" in survivor.output()
    release.refresh_from_db()
    assert release.attempts == 2  # the killed attempt, then the survivor's
    assert (stock(mug), stock(tee)) == ((10, 0), (5, 0))
    assert ledger(order_id) == [
        (mug.pk, "release", 3),
        (mug.pk, "sale", -3),
        (tee.pk, "release", 2),
        (tee.pk, "sale", -2),
    ]


# --- 4. The emails' order ----------------------------------------------------------

# The SMTP server holds the confirmation this long, within a send's cut of 10 s here (the
# lease of 15 s still outlasts half the soft time limit plus a send: config/settings).
HELD_SECONDS = 6
SLOW_SMTP_WINDOWS = {"SHOPFLOW_EMAIL_SEND_SECONDS": 10}


def test_a_cancel_while_the_confirmation_is_being_sent_reaches_the_mailbox_after_it(
    own_redis, smtp_server, dispatcher_process, workers
):
    """The cancel comes while the SMTP server holds the confirmation; a second pool
    process is free to send the cancellation, which waits for the confirmation's attempt
    (its lease) instead: the mailbox has the confirmation, then the cancellation."""
    env = shop_env(own_redis, smtp_server, **SLOW_SMTP_WINDOWS)
    dispatcher_process(env)
    worker = workers(env, concurrency=2)
    user = UserFactory(email="changed.mind@example.com")
    wait_until(lambda: smtp_server.messages_to(user.email), message="the welcome email")
    smtp_server.handler.delay_next = HELD_SECONDS
    order_id = place_order(user.customer, (ProductFactory(low_stock_threshold=0), 1))["id"]
    assert smtp_server.handler.delaying.wait(timeout=30), worker.output()[-3000:]
    assert smtp_server.handler.delayed_recipients == [user.email]

    assert cancel(user, order_id).status_code == 200
    wait_until(
        lambda: side_effects(user, order_id) == CANCELLED_DONE,
        timeout=60,
        interval=0.5,
        message=f"the emails; worker log:\n{worker.output()[-3000:]}",
    )
    assert order_emails(smtp_server, order_id) == ["confirmation", "cancellation"]
    # Its first attempt came while the confirmation was held, and waited.
    assert Job.objects.get(kind="cancellation_email", key=str(order_id)).attempts >= 2


def test_a_cancel_before_any_worker_ran_sends_the_cancellation_only(
    own_redis, smtp_server, dispatcher_process, workers
):
    env = shop_env(own_redis, smtp_server)
    dispatcher_process(env)
    user = UserFactory(email="quick.regret@example.com")
    order_id = place_order(user.customer, (ProductFactory(low_stock_threshold=0), 1))["id"]
    assert cancel(user, order_id).status_code == 200

    worker = workers(env)
    wait_until(
        lambda: side_effects(user, order_id) == CANCELLED_DONE,
        timeout=60,
        interval=0.5,
        message=f"the side effects; worker log:\n{worker.output()[-3000:]}",
    )
    assert order_emails(smtp_server, order_id) == ["cancellation"]
