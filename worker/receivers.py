import time

from .queues import PUBLISHED_AT_HEADER


def stamp_publish_time(headers, properties, **kwargs):
    """before_task_publish: the time of publication on every task message, as a header
    (Redis) and as the AMQP timestamp, which RabbitMQ's management API reports for the
    head of each queue (py-amqp packs that property as an integer: whole seconds)."""
    now = time.time()
    headers[PUBLISHED_AT_HEADER] = now
    properties["timestamp"] = int(now)
