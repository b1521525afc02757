"""The queues, as the broker counts them: which queue a task goes to, and each queue's
whole state (/metrics), and their backlogs as the re-drives (side effects', webhooks') see them.

A queue's state (`queue_states`), for every queue asked, consumed or not:

- ready: messages waiting for a consumer (Redis: the list's length; RabbitMQ: a passive
  queue_declare).
- oldest_ready_age_seconds: since the oldest ready message was published (its stamp,
  worker.receivers), None when the queue is empty or the age unknown."""

import logging
from typing import NamedTuple

from django.conf import settings

from .broker_queue import BrokerQueue
from .celery import app
from .outbox import publication_lateness, relay_is_behind
from .queue_rabbitmq import rabbitmq_queues
from .queue_redis import redis_queues

logger = logging.getLogger(__name__)


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


class Backlogs(NamedTuple):
    """What the re-drives (the side-effect reconciler's, the webhooks') need to tell a
    message lost from one still waiting its turn: a queue is first in, first out, so a
    message published before the oldest one ready in its queue is not in that queue."""

    ages: dict[str, float | None]  # queue: its oldest ready message's age (0.0: none ready)
    lateness: float  # how late the relay published lately: its lease at least


def queue_backlogs(*, names: set[str], who: str) -> Backlogs | None:
    """The backlogs of the queues `names`, or None when they cannot be told (the relay is
    behind, or the broker does not answer): `who` re-drives nothing then, and logs why."""
    if relay_is_behind():
        logger.warning("%s: the outbox relay is behind; no re-drive this run", who)
        return None
    try:
        states = queue_states(names=names)
    except Exception as exc:  # the broker's own error, whichever broker it is
        logger.warning("%s: the broker cannot tell its queues (%s); no re-drive", who, exc)
        return None
    ages = {
        name: state.oldest_ready_age_seconds if state.ready else 0.0
        for name, state in states.items()
    }
    known = [age for age in ages.values() if age is not None]
    lateness = max(
        settings.SHOPFLOW_OUTBOX_LEASE_SECONDS,
        publication_lateness(within_seconds=max(known)) if any(known) else 0.0,
    )
    return Backlogs(ages=ages, lateness=lateness)
