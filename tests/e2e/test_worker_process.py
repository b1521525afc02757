"""End to end with `celery -A worker worker` started as a subprocess, against a Redis
server the test owns and stops, PostgreSQL or SQLite, and a real SMTP server."""

import psutil
import pytest

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from side_effects.services import side_effects_reconcile
from store.models import StockMovement
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, relay_drain, worker_env
from worker.models import OutboxMessage

pytestmark = pytest.mark.django_db(transaction=True)

ALL_DONE = {"confirmation_email": "done", "inventory": "done", "analytics": "done"}


def checkout(user, product, quantity=1):
    client = client_for(user)
    cart = cart_with(user.customer, (product, quantity))
    return client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")


def side_effects(user, order_id):
    return client_for(user).get(f"/api/orders/{order_id}/").json()["side_effects"]


def unpublished() -> int:
    """Outbox rows the relay has not published yet."""
    return OutboxMessage.objects.filter(published_at=None).count()


def test_worker_process_performs_every_side_effect_of_a_checkout(worker_process, smtp_server):
    user = UserFactory(email="linus@example.com")
    product = ProductFactory(on_hand=50, low_stock_threshold=0)

    response = checkout(user, product, 3)

    assert response.status_code == 201
    order_id = response.json()["id"]
    wait_until(
        lambda: side_effects(user, order_id) == ALL_DONE,
        timeout=30,
        message=f"side effects; worker log:\n{worker_process.output()[-3000:]}",
    )
    subjects = [m["Subject"] for m in smtp_server.messages_to("linus@example.com")]
    assert subjects.count(f"Your Shopflow order #{order_id}") == 1
    product.refresh_from_db()
    assert (product.on_hand, product.reserved) == (47, 0)
    # Done without a failure or a retry on the way (those are the lines a worker logs per
    # task; successes are not logged, see LOGGING).
    assert "ERROR" not in worker_process.output()
    assert "transient error" not in worker_process.output()


def test_broker_down_during_checkout_loses_nothing_and_the_relay_catches_up(
    worker_process, stoppable_broker, smtp_server
):
    users = [UserFactory() for _ in range(3)]
    product = ProductFactory(on_hand=50, low_stock_threshold=0)
    wait_until(lambda: len(smtp_server.messages) == 3, message="welcome emails")

    stoppable_broker.stop()
    responses = [checkout(user, product, 2) for user in users]

    assert [r.status_code for r in responses] == [201, 201, 201]
    order_ids = [r.json()["id"] for r in responses]
    assert unpublished() == 9  # three side effects per order, none published

    stoppable_broker.start()  # the relay publishes them once it answers
    wait_until(lambda: unpublished() == 0, timeout=30, message="the relay")

    for user, order_id in zip(users, order_ids, strict=True):
        wait_until(
            lambda u=user, o=order_id: side_effects(u, o) == ALL_DONE,
            timeout=60,
            message=f"order {order_id}; worker log:\n{worker_process.output()[-3000:]}",
        )
    confirmations = [m for m in smtp_server.messages if "Your Shopflow order" in m["Subject"]]
    assert sorted(m["Subject"] for m in confirmations) == sorted(
        f"Your Shopflow order #{o}" for o in order_ids
    )
    assert SentEmail.objects.filter(kind="confirmation_email").count() == 3
    product.refresh_from_db()
    assert (product.on_hand, product.reserved) == (44, 0)
    assert StockMovement.objects.count() == 3
    assert AnalyticsEvent.objects.count() == 3


def test_worker_killed_mid_task_loses_no_side_effect(
    own_redis, smtp_server, tmp_path, relay_process
):
    """SIGKILL the pool process while it waits on SMTP: acks_late and reject_on_worker_lost
    put the message back, a new pool process runs it, finds the dead delivery's claim,
    waits until the claim is stale, takes it over, and the order completes."""
    env = worker_env(own_redis, smtp_server, SHOPFLOW_EMAIL_CLAIM_SECONDS=3)
    relay_process(env)
    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=1).start()
    try:
        user = UserFactory(email="killed@example.com")
        wait_until(lambda: smtp_server.messages_to("killed@example.com"), message="welcome")
        product = ProductFactory(on_hand=10, low_stock_threshold=0)
        smtp_server.handler.delay_next = 30

        order_id = checkout(user, product).json()["id"]
        assert smtp_server.handler.delaying.wait(timeout=30), worker.output()[-3000:]
        [pool_process] = psutil.Process(worker.process.pid).children()
        pool_process.kill()

        wait_until(
            lambda: side_effects(user, order_id) == ALL_DONE,
            timeout=60,
            message=f"side effects after the kill; worker log:\n{worker.output()[-3000:]}",
        )
        assert "WorkerLostError" in worker.output() or "signal 9" in worker.output()
        assert "taking over a claim" in worker.output()
        assert SentEmail.objects.get(kind="confirmation_email", key=str(order_id)).status == "sent"
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (9, 0)
        assert AnalyticsEvent.objects.get(order_id=order_id).units == 1
    finally:
        worker.stop()


def test_a_message_whose_worker_was_killed_resumes_where_its_work_stopped(
    own_redis, smtp_server, tmp_path, relay_process
):
    """Three orders' emails in one message, sent one after another; SIGKILL the pool
    process while the first waits on SMTP. The message comes back and resumes: the three
    had their attempts counted in their rows, so each goes out in a message of its own
    (the one in flight: its claim goes stale, then it is taken over and sent); the other
    two are sent once."""
    from side_effects.models import OrderSideEffect

    env = worker_env(own_redis, smtp_server, SHOPFLOW_EMAIL_CLAIM_SECONDS=3)
    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=1).start()
    try:
        users = [UserFactory(email=f"batch{n}@example.com") for n in range(3)]
        relay_drain()  # the welcome emails
        wait_until(lambda: len(smtp_server.messages) == 3, message="welcome emails")
        product = ProductFactory(on_hand=10, low_stock_threshold=0)
        order_ids = [checkout(user, product).json()["id"] for user in users]  # pending
        smtp_server.handler.delay_next = 30

        relay_process(env)  # one pass: one message per side effect, three orders each
        assert smtp_server.handler.delaying.wait(timeout=30), worker.output()[-3000:]
        [slow_to] = smtp_server.handler.delayed_recipients
        [slow] = [o for u, o in zip(users, order_ids, strict=True) if u.email == slow_to]
        in_flight = OrderSideEffect.objects.get(order_id=slow, kind="confirmation_email")
        assert in_flight.open_attempts == 1
        [pool_process] = psutil.Process(worker.process.pid).children()
        pool_process.kill()

        for user, order_id in zip(users, order_ids, strict=True):
            wait_until(
                lambda u=user, o=order_id: side_effects(u, o) == ALL_DONE,
                timeout=60,
                message=f"order {order_id}; worker log:\n{worker.output()[-3000:]}",
            )
        assert "taking over a claim" in worker.output()
        subjects = [m["Subject"] for m in smtp_server.messages]
        quick = [o for o in order_ids if o != slow]
        assert [subjects.count(f"Your Shopflow order #{o}") for o in quick] == [1, 1]
        # (The slow one was sent by the takeover; the server, which still held the killed
        # attempt's message, may deliver that too: the gap email_app.services names.)
        assert subjects.count(f"Your Shopflow order #{slow}") >= 1
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (7, 0)
    finally:
        worker.stop()


# --- Faults the reconciler recovers from -----------------------------------------------------


def reconcile_until_done(pairs, worker, timeout=60):
    """Run the reconciler (beat runs it every minute) until every order's side effects
    are done."""

    def all_done():
        side_effects_reconcile()
        return all(side_effects(user, order_id) == ALL_DONE for user, order_id in pairs)

    wait_until(
        all_done,
        timeout=timeout,
        interval=1.0,
        message=f"side effects via the reconciler; worker log:\n{worker.output()[-3000:]}",
    )


def test_the_whole_worker_killed_mid_task_is_recovered_by_the_reconciler_once(
    own_redis, smtp_server, tmp_path, settings, relay_process
):
    """SIGKILL the worker's main process and its pool together while the email waits on
    SMTP: the message stays unacknowledged in Redis (for the visibility timeout) and the
    claim stays "sending". The reconciler re-drives the order past its deadline; the new
    delivery takes the dead one's claim over and sends."""
    import os
    import signal

    settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS = 3
    env = worker_env(own_redis, smtp_server, SHOPFLOW_EMAIL_CLAIM_SECONDS=2)
    relay_process(env)
    first = WorkerProcess(env, tmp_path / "first.log", concurrency=1).start()
    user = UserFactory(email="whole@example.com")
    wait_until(lambda: smtp_server.messages_to("whole@example.com"), message="welcome")
    product = ProductFactory(on_hand=10, low_stock_threshold=0)
    smtp_server.handler.delay_next = 30

    order_id = checkout(user, product).json()["id"]
    assert smtp_server.handler.delaying.wait(timeout=30), first.output()[-3000:]
    os.killpg(first.process.pid, signal.SIGKILL)
    first.stop()

    second = WorkerProcess(env, tmp_path / "second.log", concurrency=1).start()
    try:
        reconcile_until_done([(user, order_id)], second)
        assert "taking over a claim" in second.output()
        row = SentEmail.objects.get(kind="confirmation_email", key=str(order_id))
        assert row.status == "sent"
        copies = [
            m for m in smtp_server.messages if m["Subject"] == f"Your Shopflow order #{order_id}"
        ]
        assert len(copies) >= 1
        assert {m["Message-ID"] for m in copies} == {
            f"<confirmation_email.{order_id}@shopflow.local>"
        }
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (9, 0)
        assert list(
            StockMovement.objects.filter(order_item__order_id=order_id).values_list("delta")
        ) == [(-1,)]
        assert AnalyticsEvent.objects.get(order_id=order_id).units == 1
    finally:
        second.stop()


def test_redis_restarted_without_its_queued_tasks_loses_no_side_effect(
    own_redis, smtp_server, tmp_path, settings, relay_process
):
    """The worker is stopped, the tasks are queued, Redis restarts without persistence:
    every outbox row says published, the queues are empty. The reconciler re-drives."""
    settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS = 2
    relay_process(worker_env(own_redis, smtp_server))
    users = [UserFactory() for _ in range(3)]
    product = ProductFactory(on_hand=50, low_stock_threshold=0)
    order_ids = [checkout(user, product, 2).json()["id"] for user in users]
    # All published, to a Redis about to forget them.
    wait_until(lambda: unpublished() == 0, message="the relay")

    own_redis.stop()
    own_redis.start()
    worker = WorkerProcess(worker_env(own_redis, smtp_server), tmp_path / "worker.log").start()
    try:
        reconcile_until_done(list(zip(users, order_ids, strict=True)), worker)
        for order_id in order_ids:
            sent = SentEmail.objects.get(kind="confirmation_email", key=str(order_id))
            assert sent.status == "sent"
            assert AnalyticsEvent.objects.get(order_id=order_id).units == 2
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (44, 0)
        assert StockMovement.objects.count() == 3
    finally:
        worker.stop()


# --- Scale-out -------------------------------------------------------------------------------


def test_two_worker_processes_on_the_same_queues_share_the_load_and_keep_every_promise(
    own_redis, smtp_server, tmp_path, relay_process
):
    """Two workers on every queue, as `--scale worker=2` runs them, with 40 orders placed
    from four threads at once: each order's email sent once, its stock applied once, its
    analytics recorded once; and both workers did some of the work, as each one's own
    /metrics (SHOPFLOW_WORKER_METRICS_PORT, compose's way) tells."""
    from devstack.stack import free_port

    ports = [free_port(), free_port()]
    # Four orders a message at most: more messages than workers, as in a busy shop.
    relay_process(worker_env(own_redis, smtp_server, SHOPFLOW_SIDE_EFFECT_BATCH_SIZE=4))
    workers = [
        metered_worker(own_redis, smtp_server, tmp_path / f"worker-{n}", port)
        for n, port in enumerate(ports)
    ]
    try:
        users = [UserFactory() for _ in range(8)]
        wait_until(lambda: len(smtp_server.messages) == 8, message="welcome emails")
        product = ProductFactory(on_hand=1000, low_stock_threshold=0)
        orders = placed_from_four_threads(users, product, count=40)

        for user, order_id in orders:
            wait_until(
                lambda u=user, o=order_id: side_effects(u, o) == ALL_DONE,
                timeout=60,
                message=f"order {order_id}; logs:\n{workers[0].output()[-2000:]}",
            )
        subjects = [m["Subject"] for m in smtp_server.messages]
        assert all(subjects.count(f"Your Shopflow order #{o}") == 1 for _, o in orders)
        assert SentEmail.objects.filter(kind="confirmation_email").count() == 40
        assert StockMovement.objects.count() == 40
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (960, 0)
        assert AnalyticsEvent.objects.count() == 40

        shares = [successful_runs(port) for port in ports]
        assert all(share > 0 for share in shares), shares
    finally:
        for worker in workers:
            worker.stop()


def metered_worker(redis_server, smtp_server, path, port) -> WorkerProcess:
    """A worker of two processes serving its /metrics on `port`, as compose runs one."""
    metrics_dir = path.with_name(path.name + "-metrics")
    metrics_dir.mkdir()
    env = worker_env(
        redis_server,
        smtp_server,
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        SHOPFLOW_WORKER_METRICS_PORT=port,
    )
    return WorkerProcess(env, path.with_suffix(".log"), concurrency=2).start()


def placed_from_four_threads(users, product, *, count: int) -> list[tuple]:
    """`count` orders of one `product`, the users taking turns: (user, order id) each."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def place(n):
        try:
            return checkout(users[n % len(users)], product)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(place, range(count)))
    assert [r.status_code for r in responses] == [201] * count
    return [(users[n % len(users)], r.json()["id"]) for n, r in enumerate(responses)]


def successful_runs(port) -> float:
    """The tasks a worker ran successfully, by its own /metrics."""
    import requests

    from tests.support.metrics import Metrics

    scraped = Metrics(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
    return sum(
        s.value
        for s in scraped.samples
        if s.name == "shopflow_task_runs_total" and s.labels["outcome"] == "success"
    )
