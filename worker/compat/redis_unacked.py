"""The messages Redis workers took and have not acknowledged, by queue, as kombu keeps them
(worker.queue_redis reads them for /metrics' `held`, and, for those waiting for their ETA,
part of `scheduled`).

Celery documents where they are (https://github.com/celery/celery/pull/10566: the
`unacked` hash, named by kombu's `unacked_key` transport option) but not what a value
holds, and neither Celery nor kombu tells how many messages of a queue are held on Redis
(https://github.com/celery/celery/issues/8556, open). This reads the hash's values as
kombu 5.7 writes them (`QoS.append`): `[message, exchange, routing_key]`, the message as
published (JSON, its headers Celery's), a task's queue being its routing key (each queue
is bound by its own name). Nothing else in the project reads that layout.

Canary: tests/worker/compat/test_redis_unacked.py takes a message as a worker does and
reads it back here; it fails once kombu stores the hash otherwise (then `held` on Redis
needs another source, or goes)."""

import json
from datetime import datetime

from . import version_guard

version_guard("kombu", checked=("5.7.0", "5.8"), patch=__name__)


def unacked_read(pipe, channel) -> None:
    """Queue, on `pipe` (a pipeline of `channel`'s client), the read whose reply
    unacked_by_queue counts."""
    pipe.hvals(channel.unacked_key)


def unacked_by_queue(values, *, now: float) -> tuple[dict[str, int], dict[str, int]]:
    """{queue: held} and {queue: held waiting for an ETA still ahead of `now` (epoch
    seconds)} from the hash's values."""
    held: dict[str, int] = {}
    eta_held: dict[str, int] = {}
    for value in values:
        try:
            message, _exchange, routing_key = json.loads(value)
        except (TypeError, ValueError):
            continue
        eta = (message.get("headers") or {}).get("eta")
        counts = eta_held if eta and _epoch(eta) > now else held
        counts[routing_key] = counts.get(routing_key, 0) + 1
    return held, eta_held


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0
