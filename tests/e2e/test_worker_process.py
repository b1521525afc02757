"""End to end with `celery -A worker worker` started as a subprocess, against a Redis
server the test owns and stops, PostgreSQL or SQLite, and a real SMTP server. The
dispatcher (`manage.py dispatch`) wakes the workers for the orders' jobs (worker.jobs)."""

import os
import signal
import time

import psutil
import pytest

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from store.models import StockMovement
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.jobs import order_jobs
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, dispatcher_thread, worker_env
from worker.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

ALL_DONE = {"confirmation_email": "done", "inventory": "done", "analytics": "done"}
QUEUES = {"confirmation_email": "emails", "inventory": "inventory", "analytics": "analytics"}
# Short windows, so that a lost attempt costs seconds here (production's: test_dead_worker):
# a job's lease of 15 s, which must outlast the hard time limit (10 s) and the run budget
# (4 s) plus a send (cut at 5 s), and a wake-up sent again after 5 s, shorter than the lease
# (config/settings/windows.py).
SHORT_WINDOWS = {
    "CELERY_TASK_TIME_LIMIT": 10,
    "SHOPFLOW_EMAIL_SEND_SECONDS": 5,
    "SHOPFLOW_JOB_LEASE_SECONDS": 15,
    "SHOPFLOW_WAKE_AGAIN_SECONDS": 5,
}


def checkout(user, product, quantity=1):
    client = client_for(user)
    cart = cart_with(user.customer, (product, quantity))
    return client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")


def side_effects(user, order_id):
    return client_for(user).get(f"/api/orders/{order_id}/").json()["side_effects"]


def email_job(order_id) -> Job:
    return Job.objects.get(kind="confirmation_email", key=str(order_id))


def email_logged_sent(order_id) -> bool:
    """Whether the order's confirmation is in the log of emails sent (SentEmail)."""
    return SentEmail.objects.filter(kind="confirmation_email", key=str(order_id)).exists()


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


def test_broker_down_during_checkout_loses_nothing_and_the_dispatcher_catches_up(
    worker_process, stoppable_broker, smtp_server
):
    """The orders' jobs are rows in the checkout's transaction: the broker down, they wait
    unclaimed; once it answers, the dispatcher wakes the workers for them."""
    users = [UserFactory() for _ in range(3)]
    product = ProductFactory(on_hand=50, low_stock_threshold=0)
    wait_until(lambda: len(smtp_server.messages) == 3, message="welcome emails")

    stoppable_broker.stop()
    responses = [checkout(user, product, 2) for user in users]

    assert [r.status_code for r in responses] == [201, 201, 201]
    order_ids = [r.json()["id"] for r in responses]
    jobs = order_jobs().filter(key__in=[str(o) for o in order_ids])
    # Three side effects per order, none claimed: no wake-up reached a worker.
    assert set(jobs.values_list("status", "attempts")) == {("pending", 0)}
    assert jobs.count() == 9

    stoppable_broker.start()  # the dispatcher wakes the workers once it answers
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
    assert set(jobs.values_list("attempts", flat=True)) == {1}


# --- A worker lost mid-job: its lease lapses, and another attempt claims it ------------------


def test_worker_killed_mid_task_loses_no_side_effect(
    own_redis, smtp_server, tmp_path, dispatcher_process
):
    """SIGKILL the pool process while it waits on SMTP: the job's wake-up was acknowledged
    when its run started, so nothing comes back from the broker. The job's lease lapses,
    the dispatcher wakes the kind for it, a new pool process claims it (its second
    attempt) and sends: the killed attempt's send never ended, so nothing logged it sent."""
    env = worker_env(own_redis, smtp_server, **SHORT_WINDOWS)
    dispatcher_process(env)
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
        killed = time.monotonic()

        wait_until(
            lambda: side_effects(user, order_id) == ALL_DONE,
            timeout=60,
            message=f"side effects after the kill; worker log:\n{worker.output()[-3000:]}",
        )
        print(f"\ndone {time.monotonic() - killed:.1f} s after the kill (a 15 s lease)")
        assert "WorkerLostError" in worker.output() or "signal 9" in worker.output()
        assert "its last attempt lost its worker; alone" in worker.output()
        assert email_job(order_id).attempts == 2  # the killed attempt, then the one that sent
        assert email_logged_sent(order_id)
        subjects = [m["Subject"] for m in smtp_server.messages_to("killed@example.com")]
        assert subjects.count(f"Your Shopflow order #{order_id}") == 1
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (9, 0)
        assert AnalyticsEvent.objects.get(order_id=order_id).units == 1
    finally:
        worker.stop()


def test_a_run_whose_worker_was_killed_resumes_where_its_work_stopped(
    own_redis, smtp_server, tmp_path, dispatcher_process
):
    """Three orders' emails claimed in one run (one lease), sent one after another; SIGKILL
    the pool process while the first waits on SMTP. The three leases lapse together, and
    each job, its last attempt lost, is claimed alone by a run of its own, and sent once
    (the one in flight too: its killed send never ended)."""
    env = worker_env(own_redis, smtp_server, **SHORT_WINDOWS)
    worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=1).start()
    try:
        users = [UserFactory(email=f"batch{n}@example.com") for n in range(3)]
        with dispatcher_thread():  # for the welcome emails, stopped before the orders
            wait_until(lambda: len(smtp_server.messages) == 3, message="welcome emails")
        product = ProductFactory(on_hand=10, low_stock_threshold=0)
        order_ids = [checkout(user, product).json()["id"] for user in users]  # pending
        smtp_server.handler.delay_next = 30

        dispatcher_process(env)  # one wake-up for the three emails (a batch of 4)
        assert smtp_server.handler.delaying.wait(timeout=30), worker.output()[-3000:]
        [slow_to] = smtp_server.handler.delayed_recipients
        [slow] = [o for u, o in zip(users, order_ids, strict=True) if u.email == slow_to]
        emails = Job.objects.filter(kind="confirmation_email", key__in=[str(o) for o in order_ids])
        claimed = set(emails.values_list("lease_id", "attempts"))
        assert len(claimed) == 1 and claimed.pop()[1] == 1, claimed  # one claim, one attempt
        [pool_process] = psutil.Process(worker.process.pid).children()
        pool_process.kill()

        for user, order_id in zip(users, order_ids, strict=True):
            wait_until(
                lambda u=user, o=order_id: side_effects(u, o) == ALL_DONE,
                timeout=60,
                message=f"order {order_id}; worker log:\n{worker.output()[-3000:]}",
            )
        assert worker.output().count("its last attempt lost its worker; alone") == 3
        assert set(emails.values_list("attempts", flat=True)) == {2}
        subjects = [m["Subject"] for m in smtp_server.messages]
        quick = [o for o in order_ids if o != slow]
        assert [subjects.count(f"Your Shopflow order #{o}") for o in quick] == [1, 1]
        # (The slow one was sent by its second attempt; a server that had taken the killed
        # attempt's message may deliver that too: the gap email_app.services.sending names.)
        assert subjects.count(f"Your Shopflow order #{slow}") >= 1
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (7, 0)
    finally:
        worker.stop()


def test_the_whole_worker_killed_mid_task_is_recovered_once_its_lease_lapses(
    own_redis, smtp_server, tmp_path, dispatcher_process
):
    """SIGKILL the worker's main process and its pool together while the email waits on
    SMTP, and start another: the job's lease lapses, the dispatcher wakes the kind, the
    new worker claims it and sends, once."""
    env = worker_env(own_redis, smtp_server, **SHORT_WINDOWS)
    dispatcher_process(env)
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
        wait_until(
            lambda: side_effects(user, order_id) == ALL_DONE,
            timeout=60,
            message=f"side effects after the kill; worker log:\n{second.output()[-3000:]}",
        )
        assert "its last attempt lost its worker; alone" in second.output()
        assert email_job(order_id).attempts == 2
        assert email_logged_sent(order_id)
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


def test_redis_restarted_without_its_queued_wake_ups_loses_no_side_effect(
    own_redis, smtp_server, tmp_path, dispatcher_process
):
    """No worker runs while the checkouts' wake-ups wait in Redis, which then restarts
    without persistence: the queues are empty, the jobs unclaimed. The dispatcher wakes
    the kinds again for jobs still due SHOPFLOW_WAKE_AGAIN_SECONDS after their wake-up."""
    env = worker_env(own_redis, smtp_server, SHOPFLOW_WAKE_AGAIN_SECONDS=3)
    dispatcher_process(env)
    users = [UserFactory() for _ in range(3)]
    product = ProductFactory(on_hand=50, low_stock_threshold=0)
    order_ids = [checkout(user, product, 2).json()["id"] for user in users]
    # Each kind woken, in a Redis about to forget it.
    wait_until(
        lambda: all(own_redis.queued_task_ids(queue) for queue in QUEUES.values()),
        message="the dispatcher's wake-ups",
    )

    own_redis.stop()
    own_redis.start()
    restarted = time.monotonic()
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    pairs = list(zip(users, order_ids, strict=True))
    try:
        wait_until(
            lambda: all(side_effects(u, o) == ALL_DONE for u, o in pairs),
            timeout=60,
            message=f"side effects; worker log:\n{worker.output()[-3000:]}",
        )
        print(f"\ndone {time.monotonic() - restarted:.1f} s after Redis restarted empty")
        for order_id in order_ids:
            assert email_logged_sent(order_id)
            assert AnalyticsEvent.objects.get(order_id=order_id).units == 2
        product.refresh_from_db()
        assert (product.on_hand, product.reserved) == (44, 0)
        assert StockMovement.objects.count() == 3
        assert set(order_jobs().values_list("attempts", flat=True)) == {1}
    finally:
        worker.stop()


# --- Scale-out -------------------------------------------------------------------------------


def test_two_worker_processes_on_the_same_queues_share_the_load_and_keep_every_promise(
    own_redis, smtp_server, tmp_path, dispatcher_process
):
    """Two workers on every queue, as `--scale worker=2` runs them, with 40 orders placed
    from four threads at once: each order's email sent once, its stock applied once, its
    analytics recorded once; and both workers did some of the work, as each one's own
    /metrics (SHOPFLOW_WORKER_METRICS_PORT, compose's way) tells: jobs it recorded done."""
    from devstack.stack import free_port

    ports = [free_port(), free_port()]
    # Four orders a claim at most: more wake-ups than workers, as in a busy shop.
    dispatcher_process(worker_env(own_redis, smtp_server, SHOPFLOW_SIDE_EFFECT_BATCH_SIZE=4))
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

        shares = [jobs_done(port) for port in ports]
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
        SHOPFLOW_SIDE_EFFECT_BATCH_SIZE=4,  # its claims' size (the dispatcher's: its wake-ups')
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


def jobs_done(port) -> float:
    """The side-effect jobs a worker recorded done, by its own /metrics (a wake-up that
    found nothing to claim is a successful run too: the runs would not tell)."""
    import requests

    from tests.support.metrics import Metrics

    scraped = Metrics(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
    return sum(
        s.value for s in scraped.samples if s.name == "shopflow_side_effect_lag_seconds_count"
    )
