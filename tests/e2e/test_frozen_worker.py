"""A worker frozen (SIGSTOP of its process group: a paused VM, a debugger) while its
inventory transaction waits on a product row, with production's windows, on Redis and on
RabbitMQ: PostgreSQL ends the frozen transaction once it sits idle (10 s), and its locks
with it, so a checkout of that product answers 201 within a minute; a second worker does
every side effect once within two minutes of the freeze (the frozen attempt's jobs are
claimed again once their 75 s lease lapses, by the database's clock; the jobs it had not
claimed, their wake-ups stuck with it, are woken again 30 s after the first wake-up);
after SIGCONT the first worker does nothing twice: its leases are gone."""

import os
import signal
import time

import psycopg
import pytest
import requests

from store.models import Product, StockMovement
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, database_url, worker_env
from worker.celery import app as celery_app
from worker.models import Job
from worker.queues import queue_states

from .test_worker_process import ALL_DONE, side_effects

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROMISE_SECONDS = 120
CHECKOUT_SECONDS = 60
ORDERS = 6


def lock_waiters() -> int:
    """Backends of this test's database whose statement on the products waits for a lock
    (the worker's UPDATE); another test's, on its own database, is not the worker's."""
    with psycopg.connect(database_url(), autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND query ILIKE %s",
            ("%store_product%",),
        ).fetchone()[0]


def checkout_over_http(base: str, user, product) -> requests.Response:
    """The user's checkout of one `product`, through the web process."""
    from rest_framework.authtoken.models import Token

    cart = cart_with(user.customer, (product, 1))
    token, _ = Token.objects.get_or_create(user=user)
    return requests.post(
        f"{base}/api/orders/",
        json={"cart_id": str(cart.pk)},
        headers={"Authorization": f"Token {token.key}"},
        timeout=CHECKOUT_SECONDS + 30,
    )


def test_a_worker_frozen_in_its_transaction_costs_a_checkout_under_a_minute_and_its_work_two(
    stoppable_broker, smtp_server, tmp_path, dispatcher_process, web
):
    env = worker_env(stoppable_broker, smtp_server)
    dispatcher_process(env)
    site = web(CELERY_BROKER_URL=stoppable_broker.url)
    product = ProductFactory(on_hand=100, low_stock_threshold=0)
    users = [UserFactory(email=f"frozen{n}@example.com") for n in range(ORDERS + 1)]
    order_ids = [checkout_over_http(site.base, user, product).json()["id"] for user in users[:-1]]
    frozen = survivor = None
    try:
        frozen, frozen_at = worker_frozen_waiting_on(product, env, tmp_path)
        survivor = WorkerProcess(env, tmp_path / "survivor.log", concurrency=1).start()

        started = time.monotonic()
        response = checkout_over_http(site.base, users[-1], product)
        took = time.monotonic() - started
        assert response.status_code == 201, response.text
        assert took <= CHECKOUT_SECONDS
        order_ids.append(response.json()["id"])

        wait_all_done(users, order_ids, survivor)
        done = time.monotonic() - frozen_at
        print(f"\ncheckout in {took:.1f} s; all done {done:.0f} s after the freeze")
        assert done <= PROMISE_SECONDS
        # The frozen attempt's inventory jobs, claimed again once their lease lapsed (more
        # than once when the frozen transaction still held the row at the next attempt).
        assert "its last attempt lost its worker" in survivor.output()
        inventory = Job.objects.filter(kind="inventory", key__in=[str(o) for o in order_ids])
        assert inventory.filter(attempts__gte=2).exists(), list(inventory.values("attempts"))

        os.killpg(frozen.process.pid, signal.SIGCONT)
        settle([frozen, survivor])
    finally:
        for worker in (frozen, survivor):
            if worker is not None:
                os.killpg(worker.process.pid, signal.SIGCONT)
                worker.stop()

    assert_each_done_once(smtp_server, product, order_ids)


def worker_frozen_waiting_on(product, env, tmp_path):
    """A worker whose inventory transaction waits on the product's row (another
    transaction holds it), then SIGSTOPped with its pool; the other transaction then
    commits, so the frozen one holds the row with its client asleep. (The worker, when.)"""
    holder = psycopg.connect(database_url())
    try:
        holder.execute("SELECT 1 FROM store_product WHERE id = %s FOR UPDATE", (product.pk,))
        frozen = WorkerProcess(env, tmp_path / "frozen.log", concurrency=1).start()
        wait_until(lambda: lock_waiters() == 1, message="inventory to wait on the row")
        os.killpg(frozen.process.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        holder.commit()
    finally:
        holder.close()
    return frozen, frozen_at


def wait_all_done(users, order_ids, survivor) -> None:
    """Every side effect of these orders done."""
    wait_until(
        lambda: all(side_effects(u, o) == ALL_DONE for u, o in zip(users, order_ids, strict=True)),
        timeout=PROMISE_SECONDS,
        interval=0.5,
        message=f"every side effect; survivor's log:\n{survivor.output()[-3000:]}",
    )


def settle(workers) -> None:
    """Until the thawed worker is done with what it held (its transaction was ended under
    it, its leases had lapsed) and what that left has run: the queues empty, and each
    worker answering that it runs nothing."""

    def idle() -> bool:
        active = celery_app.control.inspect(timeout=1).active() or {}
        return all(active.get(worker.name) == [] for worker in workers)

    wait_until(
        lambda: (
            not any(
                state.ready
                for state in queue_states(
                    names=["default", "emails", "inventory", "analytics"]
                ).values()
            )
            and idle()
        ),
        timeout=90,
        message="the thawed worker to finish and the queues to empty",
    )


def assert_each_done_once(smtp_server, product, order_ids) -> None:
    subjects = [message["Subject"] for message in smtp_server.messages]
    assert {o: subjects.count(f"Your Shopflow order #{o}") for o in order_ids} == dict.fromkeys(
        order_ids, 1
    )
    moved = StockMovement.objects.filter(order_item__order_id__in=order_ids)
    assert sorted(moved.values_list("order_item__order_id", flat=True)) == sorted(order_ids)
    product = Product.objects.get(pk=product.pk)
    assert (product.on_hand, product.reserved) == (100 - len(order_ids), 0)
