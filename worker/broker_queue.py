"""What a broker tells of one queue (worker.queue_redis, worker.queue_rabbitmq): the shape
both answer in."""

from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerQueue:
    ready: int
    oldest_ready_age_seconds: float | None
