"""What a broker tells of one queue (worker.queue_redis, worker.queue_rabbitmq): the shape
both answer in, which worker.queues completes with the outbox's scheduled retries."""

from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerQueue:
    ready: int
    held: int | None  # None: the broker cannot tell (RabbitMQ without its management API)
    eta_held: int  # held, but only waiting for their ETA: scheduled (Redis tells them apart)
    consumers: int
    oldest_ready_age_seconds: float | None
