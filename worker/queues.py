"""The queues, as the broker counts them: which queue a task goes to, and how many
messages wait ready in each (for /metrics and the side-effect reconciler)."""

from django.conf import settings

from .celery import app
from .routing import route


def queue_of(*, task_name: str) -> str:
    """The queue Celery's router sends `task_name` to."""
    routed = route(task_name, (), {}, {})
    return routed["queue"] if routed else settings.CELERY_TASK_DEFAULT_QUEUE


def queue_lengths(*, names) -> dict[str, int]:
    """{queue: messages ready} for each of `names`, over a connection from the app's pool
    (the one the outbox publishes with); a queue the broker does not know has none. Raises
    the broker's error when it does not answer within a few seconds."""
    lengths = {}
    with app.pool.acquire(block=True, timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel, own = conn.default_channel, None  # kept with the pooled connection
        try:
            for name in names:
                try:
                    _, lengths[name], _ = channel.queue_declare(queue=name, passive=True)
                except conn.channel_errors:  # no such queue: nothing was ever sent to it
                    lengths[name] = 0  # (Redis: an empty queue is no key at all)
                    if not getattr(channel, "is_open", True):  # AMQP closed it
                        channel = own = conn.channel()
        finally:
            if own is not None:
                own.close()
    return lengths
