"""The queues on Redis, as Redis alone can tell them (worker.queues calls this).

A queue is a Redis list, as Celery documents it: published with LPUSH, taken with BRPOP,
so the oldest message is the last element; each element a message in Celery's message
format, whose headers carry the publication stamp this project writes (worker.receivers).
Shopflow sends no priorities, so a queue is that one list; it sets no `global_keyprefix`,
so the keys are as named. What workers hold unacknowledged only kombu's own hash tells,
read in worker.compat.redis_unacked.

Redis has no consumers to count: each worker announces the queues it consumes
(ConsumerAnnouncer), from its consumer's own timer, into one sorted set a queue, scored by
when the announcement expires by Redis's clock (the script reads TIME: hosts' clocks do
not matter). A worker that stops consuming a queue takes itself out at its next tick, one
that stops takes itself out of all, and one that died expires."""

import json
import logging

from celery import bootsteps

from .broker_queue import BrokerQueue
from .compat.redis_unacked import unacked_by_queue, unacked_read

logger = logging.getLogger(__name__)

# The header a task message carries its publication time in (epoch seconds, the
# publisher's clock; worker.receivers stamps it): the oldest ready message's age is read
# from it here; RabbitMQ reads the AMQP `timestamp` property instead.
PUBLISHED_AT_HEADER = "shopflow_published_at"

ANNOUNCE_EVERY_SECONDS = 5.0
# Three announcements missed: the worker is gone (SIGKILL, a host cut off).
ANNOUNCEMENT_TTL_SECONDS = 15


def consumers_key(queue: str) -> str:
    return f"shopflow:consumers:{queue}"


# KEYS: the sets of the queues consumed, then of those no longer consumed.
# ARGV: the worker, the announcement's life in seconds, how many of KEYS are consumed.
ANNOUNCE = """
local now = tonumber(redis.call('TIME')[1])
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  if i <= tonumber(ARGV[3]) then
    redis.call('ZADD', key, now + ttl, ARGV[1])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    redis.call('EXPIRE', key, ttl)
  else
    redis.call('ZREM', key, ARGV[1])
  end
end
return #KEYS
"""


def redis_queues(channel, *, names) -> dict[str, BrokerQueue]:
    """What Redis holds for each queue of `names`, read in one transaction (MULTI/EXEC) over
    `channel`'s own client, with its socket timeouts: the lists' lengths and oldest
    elements, the announced consumers and the unacknowledged messages, at one instant of
    Redis's clock."""
    names = list(names)
    with channel.conn_or_acquire() as client, client.pipeline(transaction=True) as pipe:
        pipe.time()
        for name in names:
            pipe.llen(name).lindex(name, -1).zrange(consumers_key(name), 0, -1, withscores=True)
        unacked_read(pipe, channel)
        replies = pipe.execute()
    seconds, micros = replies[0]
    now = seconds + micros / 1e6
    held, eta_held = unacked_by_queue(replies[-1], now=now)
    found = {}
    for n, name in enumerate(names):
        length, oldest, announced = replies[1 + 3 * n : 4 + 3 * n]
        found[name] = BrokerQueue(
            ready=length,
            held=held.get(name, 0),
            eta_held=eta_held.get(name, 0),
            consumers=sum(1 for _, expires in announced if expires > now),
            oldest_ready_age_seconds=_age(oldest, now=now) if length else None,
        )
    return found


def _age(raw, *, now: float) -> float | None:
    """Seconds since the message was published (its publisher's stamp), None without one."""
    try:
        published = float(json.loads(raw)["headers"][PUBLISHED_AT_HEADER])
    except (TypeError, ValueError, KeyError):
        return None  # gone since LLEN, or sent by a publisher that stamps none
    return max(now - published, 0.0)


class ConsumerAnnouncer(bootsteps.StartStopStep):
    """The consumer's step that announces, every few seconds, the queues this worker
    consumes (Redis only: RabbitMQ counts its consumers itself). From the consumer's timer,
    never a thread of its own: a thread in the prefork parent is a fork hazard."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs):
        self.ticks = None
        self.announced: set[str] = set()
        self.script = None
        super().__init__(c, **kwargs)

    def start(self, c):
        if c.connection is None or c.connection.transport.driver_type != "redis":
            return
        self.announce(c)
        self.ticks = c.timer.call_repeatedly(ANNOUNCE_EVERY_SECONDS, self.announce, (c,))

    def announce(self, c, *, consumed=None) -> None:
        """Announce the queues consumed now; take this worker out of those it left."""
        if consumed is None:
            consumed = {queue.name for queue in c.task_consumer.queues}
        left = self.announced - consumed
        keys = [consumers_key(name) for name in [*sorted(consumed), *sorted(left)]]
        try:
            with c.task_consumer.channel.conn_or_acquire() as client:
                if self.script is None:  # made once: it hashes the script
                    self.script = client.register_script(ANNOUNCE)
                args = [c.hostname, ANNOUNCEMENT_TTL_SECONDS, len(consumed)]
                self.script(keys=keys, args=args, client=client)
        except Exception as exc:  # Redis away: the consumer reconnects; the next tick tells
            logger.warning("could not announce the queues consumed: %s", exc)
            return
        self.announced = consumed

    def stop(self, c):
        if self.ticks is not None:
            self.ticks.cancel()
            self.ticks = None
            self.announce(c, consumed=set())

    shutdown = stop
