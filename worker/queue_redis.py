"""The queues on Redis, as Redis alone can tell them (worker.queues calls this).

A queue is a Redis list, as Celery documents it: published with LPUSH, taken with BRPOP,
so the oldest message is the last element; each element a message in Celery's message
format, whose headers carry the publication stamp this project writes (worker.receivers).
Shopflow sends no priorities, so a queue is that one list; it sets no `global_keyprefix`,
so the keys are as named."""

import json

from .broker_queue import BrokerQueue

# The header a task message carries its publication time in (epoch seconds, the
# publisher's clock; worker.receivers stamps it): the oldest ready message's age is read
# from it here; RabbitMQ reads the AMQP `timestamp` property instead.
PUBLISHED_AT_HEADER = "shopflow_published_at"


def redis_queues(channel, *, names) -> dict[str, BrokerQueue]:
    """What Redis holds for each queue of `names`, read in one transaction (MULTI/EXEC) over
    `channel`'s own client, with its socket timeouts: the lists' lengths and oldest
    elements, at one instant of Redis's clock."""
    names = list(names)
    with channel.conn_or_acquire() as client, client.pipeline(transaction=True) as pipe:
        pipe.time()
        for name in names:
            pipe.llen(name).lindex(name, -1)
        replies = pipe.execute()
    seconds, micros = replies[0]
    now = seconds + micros / 1e6
    return {  # each queue's LLEN and LINDEX in turn; an empty queue's oldest is None
        name: BrokerQueue(ready=length, oldest_ready_age_seconds=_age(oldest, now=now))
        for name, length, oldest in zip(names, replies[1::2], replies[2::2], strict=True)
    }


def _age(raw, *, now: float) -> float | None:
    """Seconds since the message was published (its publisher's stamp), None without one."""
    try:
        published = float(json.loads(raw)["headers"][PUBLISHED_AT_HEADER])
    except (TypeError, ValueError, KeyError):
        return None  # gone since LLEN, or sent by a publisher that stamps none
    return max(now - published, 0.0)
