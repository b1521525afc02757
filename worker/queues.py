"""The queues, as the broker counts them: which queue a task goes to, and each queue's whole
state, for /metrics and operators only (nothing recovers work from them: the jobs do).
A queue's state, for every queue asked, consumed or not: its messages ready for a consumer
and since the oldest of them was published (its stamp, worker.receivers), None when the
queue is empty or the age unknown; how each broker tells them: docs/monitoring.md, "Queues"."""

import json
import logging
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import urllib3
from django.conf import settings

from .celery import app

logger = logging.getLogger(__name__)

# The header a task message carries its publication time in (epoch seconds, the
# publisher's clock; worker.receivers stamps it): the oldest ready message's age is read
# from it on Redis; RabbitMQ reads the AMQP `timestamp` property instead.
PUBLISHED_AT_HEADER = "shopflow_published_at"
RABBITMQ_API_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class BrokerQueue:
    ready: int
    oldest_ready_age_seconds: float | None


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
            return _redis_queues(conn.default_channel, names=names)
        return _rabbitmq_queues(conn, names=names, api=settings.SHOPFLOW_RABBITMQ_API)


def _redis_queues(channel, *, names) -> dict[str, BrokerQueue]:
    """What Redis holds for each queue of `names`, read in one transaction (MULTI/EXEC) over
    `channel`'s own client, with its socket timeouts: the lists' lengths and oldest
    elements, at one instant of Redis's clock. A queue is a Redis list, as Celery documents
    it (LPUSH, BRPOP: the oldest message is the last element); Shopflow sends no priorities
    and sets no `global_keyprefix`, so it is that one list, under its own name."""
    names = list(names)
    with channel.conn_or_acquire() as client, client.pipeline(transaction=True) as pipe:
        pipe.time()
        for name in names:
            pipe.llen(name).lindex(name, -1)
        replies = pipe.execute()
    seconds, micros = replies[0]
    now = seconds + micros / 1e6
    return {  # each queue's LLEN and LINDEX in turn; an empty queue's oldest is None
        name: BrokerQueue(ready=length, oldest_ready_age_seconds=_redis_age(oldest, now=now))
        for name, length, oldest in zip(names, replies[1::2], replies[2::2], strict=True)
    }


def _redis_age(raw, *, now: float) -> float | None:
    """Seconds since the message was published (its publisher's stamp), None without one."""
    try:
        published = float(json.loads(raw)["headers"][PUBLISHED_AT_HEADER])
    except (TypeError, ValueError, KeyError):
        return None  # gone since LLEN, or sent by a publisher that stamps none
    return max(now - published, 0.0)


def _rabbitmq_queues(conn, *, names, api: str) -> dict[str, BrokerQueue]:
    """What RabbitMQ tells of each queue of `names` over `conn` (a pooled kombu connection):
    a passive declare's exact count of the messages ready, and the head message's
    publication stamp from its management API at `api` when given (refreshed every few
    seconds); a queue it does not know has nothing."""
    managed = _rabbitmq_managed(api, vhost=conn.virtual_host or "/") if api else {}
    states = {}
    channel, own = conn.default_channel, None  # kept with the pooled connection
    try:
        for name in names:
            try:
                _, ready, _ = channel.queue_declare(queue=name, passive=True)
            except conn.channel_errors:  # not declared: nothing was sent to it
                ready = 0
                if not getattr(channel, "is_open", True):  # AMQP closed the channel
                    channel = own = conn.channel()
            stamp = managed.get(name, {}).get("head_message_timestamp")
            age = max(time.time() - stamp, 0.0) if ready and stamp is not None else None
            states[name] = BrokerQueue(ready, age)
    finally:
        if own is not None:
            own.close()
    return states


def _rabbitmq_managed(api: str, *, vhost: str) -> dict[str, dict]:
    """{queue: its statistics} of the vhost from the management API, none when it does not
    answer within RABBITMQ_API_TIMEOUT_SECONDS (the counts from AMQP still stand)."""
    parts = urlsplit(api)
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    base = urlunsplit(parts._replace(netloc=host))  # the credentials go in a header
    columns = "name,head_message_timestamp"
    url = f"{base.rstrip('/')}/queues/{quote(vhost, safe='')}?columns={columns}"
    headers = urllib3.make_headers(basic_auth=f"{parts.username or ''}:{parts.password or ''}")
    try:
        response = urllib3.request(
            "GET",
            url,
            headers=headers,
            timeout=urllib3.Timeout(total=RABBITMQ_API_TIMEOUT_SECONDS),
            retries=False,
        )
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        queues = json.loads(response.data)
    except Exception as exc:
        logger.warning("RabbitMQ's management API at %s did not answer: %s", base, exc)
        return {}
    return {queue["name"]: queue for queue in queues}
