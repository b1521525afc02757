"""The queues, as the broker counts them: which queue a task goes to, and each queue's
whole state (/metrics, and the side-effect reconciler's view of a backlog).

A queue's state (`queue_states`), for every queue asked, consumed or not:

- ready: messages waiting for a consumer (Redis: the list's length; RabbitMQ: a passive
  queue_declare).
- held: delivered to a worker and not acknowledged yet (Redis: kombu's `unacked` hash;
  RabbitMQ: the management API, None without SHOPFLOW_RABBITMQ_API).
- scheduled: work that waits for its time. Shopflow sends no countdown or ETA to the
  broker: a retry waits in the outbox (worker.outbox, `not_before`). So it is the
  unpublished outbox rows of the queue's tasks whose `not_before` is still ahead by the
  database's clock, plus, on Redis, held messages whose `eta` header is ahead (a message
  someone sent with a countdown; RabbitMQ cannot tell those apart from held ones).
- consumers: RabbitMQ counts them; on Redis, the workers announce the queues they consume
  (worker.queue_redis).
- oldest_ready_age_seconds: since the oldest ready message was published (its stamp,
  worker.receivers), None when the queue is empty or the age unknown."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count

from . import outbox
from .celery import app
from .queue_rabbitmq import rabbitmq_queues
from .queue_redis import redis_queues
from .routing import route


@dataclass(frozen=True)
class QueueState:
    ready: int
    held: int | None
    scheduled: int
    consumers: int
    oldest_ready_age_seconds: float | None


def queue_of(*, task_name: str) -> str:
    """The queue Celery's router sends `task_name` to."""
    routed = route(task_name, (), {}, {})
    return routed["queue"] if routed else settings.CELERY_TASK_DEFAULT_QUEUE


def queue_states(*, names) -> dict[str, QueueState]:
    """{queue: QueueState} for each of `names`, on Redis or RabbitMQ, over a connection from
    the app's pool; a queue the broker does not know is empty. Raises the broker's error
    when it does not answer within a few seconds (each wait is bounded: the pool, the
    connection, the sockets' timeouts, the management API's)."""
    names = list(names)
    scheduled = scheduled_in_outbox(names=names)
    with app.pool.acquire(block=True, timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        if conn.transport.driver_type == "redis":
            found = redis_queues(conn.default_channel, names=names)
        else:
            found = rabbitmq_queues(conn, names=names, api=settings.SHOPFLOW_RABBITMQ_API)
    return {
        name: QueueState(
            ready=queue.ready,
            held=queue.held,
            scheduled=scheduled[name] + queue.eta_held,
            consumers=queue.consumers,
            oldest_ready_age_seconds=queue.oldest_ready_age_seconds,
        )
        for name, queue in found.items()
    }


def scheduled_in_outbox(*, names) -> dict[str, int]:
    """{queue: outbox rows not published whose `not_before` is ahead, by the database's
    clock} for each of `names`: the retries waiting for their time, by their task's queue."""
    waiting = dict.fromkeys(names, 0)
    rows = outbox.retries_waiting().values_list("task_name").annotate(n=Count("id")).order_by()
    for task_name, n in rows:
        queue = queue_of(task_name=task_name)
        if queue in waiting:
            waiting[queue] += n
    return waiting
