"""The queues, as the broker counts them: which queue a task goes to, and each queue's
whole state (/metrics, and the side-effect reconciler's view of a backlog).

A queue's state (`queue_states`), for every queue asked, consumed or not:

- ready: messages waiting for a consumer (Redis: the list's length; RabbitMQ: a passive
  queue_declare).
- oldest_ready_age_seconds: since the oldest ready message was published (its stamp,
  worker.receivers), None when the queue is empty or the age unknown."""

from django.conf import settings

from .broker_queue import BrokerQueue
from .celery import app
from .queue_rabbitmq import rabbitmq_queues
from .queue_redis import redis_queues


def queue_of(*, task_name: str) -> str:
    """The queue Celery's router sends `task_name` to (CELERY_TASK_ROUTES)."""
    return app.amqp.router.route({}, task_name)["queue"].name


def queue_states(*, names) -> dict[str, BrokerQueue]:
    """{queue: BrokerQueue} for each of `names`, on Redis or RabbitMQ, over a connection from
    the app's pool; a queue the broker does not know is empty. Raises the broker's error
    when it does not answer within a few seconds (each wait is bounded: the pool, the
    connection, the sockets' timeouts, the management API's)."""
    with app.pool.acquire(block=True, timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        if conn.transport.driver_type == "redis":
            return redis_queues(conn.default_channel, names=names)
        return rabbitmq_queues(conn, names=names, api=settings.SHOPFLOW_RABBITMQ_API)
