"""An order's life with real parts (docs/architecture.md, "Side effects"): PostgreSQL, a Redis
broker, `celery worker` processes and the dispatcher, a web process served as in
production, an SMTP server and a webhook receiver that verifies with the reference
library. A cancel and a fulfil that race: exactly one wins, and only its consequences
happen. The customer never gets the confirmation after the cancellation. (A cancelled
order's stock, given back exactly once: test_order_lifecycle_stock.)

The windows are short ones (tests.e2e.test_worker_process.SHORT_WINDOWS: a job's lease of
15 s), so that a lost attempt, or a cancellation email waiting for its confirmation's
lease, costs seconds here."""

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
import requests

from notifications.models import Notification
from tests.factories import ProductFactory, UserFactory
from tests.support.lifecycle import REQUEST_SECONDS, cancel, cancel_over_http, post_over_http
from tests.support.orders import place_order, stock
from tests.support.polling import wait_until
from tests.support.processes import worker_env
from tests.support.smtp import body_text
from tests.support.webhooks import WebhookReceiver, hook
from webhooks.events import ORDER_CANCELLED, ORDER_FULFILLED
from webhooks.models import Endpoint
from worker.models import Job

from .test_notification_stream import token_header
from .test_worker_process import ALL_DONE, SHORT_WINDOWS, side_effects

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# The order's side effects as the API shows them once all are done.
CANCELLED_DONE = {**ALL_DONE, "stock_release": "done", "cancellation_email": "done"}
FULFILLED_DONE = {**ALL_DONE, "shipping_email": "done"}


# --- The parts ---------------------------------------------------------------------

# `workers(env, name, **options)`, the `celery worker` processes: tests/e2e/conftest.py.


def shop_env(redis_server, smtp_server, **overrides) -> dict[str, str]:
    """A worker's and the dispatcher's environment: short windows, webhooks to loopback."""
    windows = {**SHORT_WINDOWS, **overrides}
    return worker_env(redis_server, smtp_server, SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK=1, **windows)


# --- Staff's requests, over HTTP (the customer's: tests.support.lifecycle) ---------


def fulfil_over_http(site, headers: dict, order_id: int) -> requests.Response:
    body = {"tracking_number": f"TRK-{order_id}"}
    return post_over_http(site, headers, f"/api/orders/{order_id}/fulfil/", body)


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
    assert_the_winners_stock(products, lines, winners)


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


def assert_the_winners_stock(products, lines: dict[int, list], winners: dict[int, str]) -> None:
    """Each product's stock: what was on hand less what the orders that stand (fulfilled,
    not cancelled) took, none reserved; `available` the same."""
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


# --- 2. The emails' order ----------------------------------------------------------

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
