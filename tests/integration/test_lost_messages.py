"""Lost and repeated wake-ups, on Redis and on RabbitMQ, with real worker processes, the
the dispatcher and a real, slow SMTP server: a wake-up only says "this kind has due
jobs", so a lost one costs latency (the dispatcher wakes a job still due 30 s after its
wake-up again) and a repeated one costs a run that claims nothing. The promise: work whose
message was lost is done within two minutes of its due time, whatever backlog its queue
has; a message delivered twice changes nothing."""

import contextlib
import json
import threading

import pytest
import redis
from celery.signals import after_task_publish
from django.db.models import Max

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from store.models import Order, OrderItem, StockMovement
from tests.factories import ProductFactory, UserFactory
from tests.support.jobs import order_jobs
from tests.support.orders import place_order
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, dispatcher_thread, worker_env
from worker.celery import app as celery_app
from worker.models import Job
from worker.queues import PUBLISHED_AT_HEADER, queue_states
from worker.tasks_base import job_tasks

pytestmark = pytest.mark.django_db(transaction=True)

PROMISE_SECONDS = 120
CONFIRMATION = "email_app.send_confirmation_email"
SIDE_EFFECT_TASKS = (CONFIRMATION, "store.apply_inventory", "analytics_app.record_analytics")
QUEUES = ["default", "emails", "inventory", "analytics"]
# Confirmation emails ahead of the one whose wake-up is lost: a minute of sends at 0.3 s
# each, half a minute on the mail worker's two threads.
BACKLOG = 200


def confirmations(smtp_server, order_id) -> int:
    subjects = [message["Subject"] for message in smtp_server.messages]
    return subjects.count(f"Your Shopflow order #{order_id}")


def jobs_enqueue(customer, product, *, count: int = BACKLOG) -> list[Job]:
    """`count` orders of one item and their confirmation email's jobs, written in bulk as
    checkout would leave them (their other side effects are not asked for), due now."""
    orders = Order.objects.bulk_create(
        [Order(customer=customer, total=product.price) for _ in range(count)]
    )
    OrderItem.objects.bulk_create(
        [OrderItem(order=o, product=product, unit_price=product.price, quantity=1) for o in orders]
    )
    jobs = Job.objects.bulk_create(
        [Job(kind="confirmation_email", key=str(order.pk)) for order in orders]
    )
    return list(Job.objects.filter(pk__in=[job.pk for job in jobs]).order_by("pk"))


def wake_up_delete(broker_url: str, *, task: str, published_after: float) -> dict | None:
    """Delete from the emails queue the oldest wake-up of `task` waiting there that was
    published after `published_after` (epoch seconds): lost by the broker. Its headers,
    or None when the oldest one waiting is older (or none waits): ask again."""
    if broker_url.startswith("amqp"):
        return _rabbitmq_delete(broker_url, task=task, published_after=published_after)
    client = redis.Redis.from_url(broker_url)
    raw = client.lindex("emails", -1)  # LPUSHed, BRPOPed: the oldest is the last
    if raw is None:
        return None
    headers = json.loads(raw)["headers"]
    fits = headers["task"] == task and headers[PUBLISHED_AT_HEADER] > published_after
    # LREM by value: a message a worker took meanwhile is not there to delete.
    return headers if fits and client.lrem("emails", -1, raw) == 1 else None


def _rabbitmq_delete(broker_url: str, *, task: str, published_after: float) -> dict | None:
    from kombu import Connection

    with Connection(broker_url) as conn:
        channel = conn.channel()
        try:
            message = channel.basic_get("emails", no_ack=False)
            if message is None:
                return None
            headers = dict(message.headers)
            if headers["task"] == task and headers[PUBLISHED_AT_HEADER] > published_after:
                channel.basic_ack(message.delivery_tag)
                return headers
            channel.basic_reject(message.delivery_tag, requeue=True)  # back at its place
            return None
        finally:
            channel.close()


def backlog_standing(smtp_server, mail: WorkerProcess):
    """A customer (their welcome email sent), a product, then BACKLOG confirmation emails
    due to a server that takes 0.3 s each, the mail worker under way through them: the
    customer, the product and the backlog's jobs."""
    customer = UserFactory(email="backlog@example.com").customer
    wait_until(lambda: smtp_server.messages_to("backlog@example.com"), message="welcome")
    product = ProductFactory(on_hand=1000, low_stock_threshold=0)
    smtp_server.handler.delay = 0.3
    backlog = Job.objects.filter(pk__in=[j.pk for j in jobs_enqueue(customer, product)])
    wait_until(
        lambda: len(smtp_server.messages) > 8,
        timeout=60,
        message=f"the backlog moving; mail worker's log:\n{mail.output()[-3000:]}",
    )
    return customer, product, backlog


def job_behind_with_a_wake_up_lost(broker_url: str, customer, product) -> tuple[Job, float, dict]:
    """One more order's email job, behind the backlog, then a wake-up published after it
    deleted from the broker: the job, when it was enqueued (epoch seconds), the lost
    wake-up's headers."""
    [job] = jobs_enqueue(customer, product, count=1)
    enqueued = job.created_at.timestamp()
    lost = wait_until(
        lambda: wake_up_delete(broker_url, task=CONFIRMATION, published_after=enqueued),
        timeout=30,
        message="a wake-up published after the job was enqueued",
    )
    return job, enqueued, lost


def seconds_to_done(job: Job, mail: WorkerProcess) -> float:
    """Once the job is done (within the promise and some slack): how long after its due
    time. The job refreshed."""
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, status="done").exists(),
        timeout=PROMISE_SECONDS + 30,
        message=f"the job done; mail worker's log:\n{mail.output()[-3000:]}",
    )
    job.refresh_from_db()
    return (job.ended_at - job.due_at).total_seconds()


def test_a_wake_up_lost_under_a_standing_backlog_costs_its_job_less_than_two_minutes(
    stoppable_broker, smtp_server, tmp_path, dispatcher_process, request
):
    """The mail worker (threads, as compose runs it; two here) behind a backlog of
    BACKLOG confirmation emails to a server that takes 0.3 s each: wake-ups wait in its
    queue while the backlog lasts. One more order's email is enqueued behind it, then
    a wake-up published after that is deleted from the broker. A wake-up carries no key:
    every run claims the oldest due jobs, so the run the lost one would have made is the
    one the last job in line, this order's, does not get: the dispatcher wakes it again 30
    s after its wake-up (production's windows throughout)."""
    env = worker_env(stoppable_broker, smtp_server)
    dispatcher_process(env)
    mail = WorkerProcess(
        env, tmp_path / "mail.log", queues="emails", pool="threads", concurrency=2
    ).start()
    try:
        customer, product, backlog = backlog_standing(smtp_server, mail)
        job, enqueued, lost = job_behind_with_a_wake_up_lost(
            stoppable_broker.url, customer, product
        )
        ahead = backlog.filter(status="pending").count()

        took = seconds_to_done(job, mail)
        drained = (backlog.aggregate(last=Max("ended_at"))["last"] - job.due_at).total_seconds()
        print(
            f"\n{request.node.name}: done {took:.1f} s after its due time; a wake-up"
            f" published {lost[PUBLISHED_AT_HEADER] - enqueued:.1f} s after it deleted while"
            f" {ahead} of the {BACKLOG} jobs ahead of it were pending; the backlog drained"
            f" {drained:.1f} s after its due time"
        )
        assert ahead >= BACKLOG // 2  # the backlog stood: half of it still ahead
        assert took <= PROMISE_SECONDS
        assert confirmations(smtp_server, job.key) == 1
        # Logged as sent (SentEmail has no status since 52af9df: a row is a sent email).
        assert SentEmail.objects.filter(kind="confirmation_email", key=job.key).count() == 1
        assert job.attempts == 1  # a lost wake-up costs no attempt
        # The backlog: every email once.
        wait_until(lambda: not backlog.exclude(status="done").exists(), message="the backlog")
        assert SentEmail.objects.filter(kind="confirmation_email").count() == BACKLOG + 1
        assert len(smtp_server.messages) == BACKLOG + 2  # and the welcome email
    finally:
        mail.stop()


@contextlib.contextmanager
def wake_ups_published_twice():
    """Each wake-up this process publishes (a job task's message) published again at once
    (Celery's after_task_publish): as a broker that delivers twice. The names repeated."""
    names = {task.name for task in job_tasks().values()}
    repeated, inside = [], threading.local()

    def publish_again(sender=None, **_):
        if sender in names and not getattr(inside, "again", False):
            inside.again = True  # the copy's own publication is not copied
            try:
                celery_app.send_task(sender)
            finally:
                inside.again = False
            repeated.append(sender)

    after_task_publish.connect(publish_again, weak=False)
    try:
        yield repeated
    finally:
        after_task_publish.disconnect(publish_again)


def test_every_wake_up_delivered_twice_changes_nothing(stoppable_broker, smtp_server, tmp_path):
    """Every wake-up the dispatcher publishes (here, in a thread of the test) goes to the
    broker twice, to two workers of two processes each: the copies' runs race for the same
    jobs. Each job is claimed once, each email sent once, each stock movement and event
    written once."""
    env = worker_env(stoppable_broker, smtp_server)
    workers = [
        WorkerProcess(env, tmp_path / f"worker-{n}.log", concurrency=2).start() for n in range(2)
    ]
    smtp_server.handler.delay = 0.05  # runs that overlap
    try:
        with wake_ups_published_twice() as repeated, dispatcher_thread():
            users = [UserFactory(email=f"twice{n}@example.com") for n in range(3)]
            orders = [
                place_order(user.customer, (ProductFactory(on_hand=10, low_stock_threshold=0), 2))
                for user in users
                for _ in range(4)
            ]
            order_ids = [order["id"] for order in orders]
            keys = [str(order_id) for order_id in order_ids]
            jobs = order_jobs().filter(key__in=keys)
            wait_until(
                lambda: jobs.filter(status="done").count() == 36,
                timeout=60,
                message=f"the jobs done; a worker's log:\n{workers[0].output()[-3000:]}",
            )
            wait_until(
                lambda: not any(s.ready for s in queue_states(names=QUEUES).values()),
                message="every wake-up taken by a worker",
            )
        # Two more of each, after the fact: each run finds nothing due.
        again = [
            celery_app.send_task(name, ignore_result=False)
            for name in SIDE_EFFECT_TASKS
            for _ in range(2)
        ]
        assert [result.get(timeout=30) for result in again] == [[]] * 6

        assert set(repeated) >= set(SIDE_EFFECT_TASKS)
        assert set(jobs.values_list("status", "attempts")) == {("done", 1)}
        assert [confirmations(smtp_server, order_id) for order_id in order_ids] == [1] * 12
        assert [len(smtp_server.messages_to(user.email)) for user in users] == [5, 5, 5]
        assert SentEmail.objects.filter(kind="confirmation_email", key__in=keys).count() == 12
        movements = StockMovement.objects.filter(order_item__order_id__in=order_ids)
        assert sorted(movements.values_list("delta", flat=True)) == [-2] * 12
        assert AnalyticsEvent.objects.filter(order_id__in=order_ids).count() == 12
    finally:
        for worker in workers:
            worker.stop()
