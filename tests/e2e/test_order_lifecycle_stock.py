"""A cancelled order's stock with real parts (docs/architecture.md, "Side effects"):
PostgreSQL, a Redis broker, `celery worker` processes and the dispatcher, a web process
served as in production, an SMTP server. Its stock comes back exactly once, whether the
cancel came before, during (either transaction first on the order's row) or after its
inventory task, and when the worker releasing it is killed mid-way. (A cancel and a fulfil
that race, and the emails' order: test_order_lifecycle.)

The windows are short ones (tests.e2e.test_worker_process.SHORT_WINDOWS: a job's lease of
15 s), so that a lost attempt costs seconds here."""

import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import psycopg
import pytest
import requests
from psycopg import sql

from store.models import StockMovement
from tests.factories import ProductFactory, UserFactory
from tests.support.lifecycle import REQUEST_SECONDS, cancel, cancel_over_http
from tests.support.orders import inventory_status, place_order, stock
from tests.support.polling import wait_for_a_lock_wait, wait_until
from tests.support.processes import database_url
from worker.models import Job

from .test_notification_stream import token_header
from .test_order_lifecycle import CANCELLED_DONE, shop_env
from .test_worker_process import ALL_DONE, side_effects

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# --- The parts ---------------------------------------------------------------------

# `shop_env(...)`: test_order_lifecycle's; `workers(env, name, **options)`, the `celery
# worker` processes: tests/e2e/conftest.py.


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


# --- What an order left behind -----------------------------------------------------


def ledger(order_id: int) -> list[tuple[int, str, int]]:
    """The order's stock movements: (product id, reason, delta), sorted."""
    movements = StockMovement.objects.filter(order_item__order_id=order_id)
    return sorted(movements.values_list("product_id", "reason", "delta"))


# --- 1. A cancel before, during and after the inventory task -----------------------


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


# --- 2. A worker killed mid-release ------------------------------------------------


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
