"""The queues on RabbitMQ (worker.queues calls this).

A passive queue_declare answers, exactly and at once, the messages ready. The publication
time of the message at the head of the queue (the AMQP timestamp worker.receivers stamps)
only the management plugin's HTTP API tells (SHOPFLOW_RABBITMQ_API): its statistics are
refreshed every few seconds (RabbitMQ's collect_statistics_interval, 5 s by default).
Without it, or when it does not answer in time, the age is unknown (None)."""

import json
import logging
import time
from urllib.parse import quote, urlsplit, urlunsplit

import urllib3

from .broker_queue import BrokerQueue

logger = logging.getLogger(__name__)

API_TIMEOUT_SECONDS = 2.0


def rabbitmq_queues(conn, *, names, api: str) -> dict[str, BrokerQueue]:
    """What RabbitMQ tells of each queue of `names` over `conn` (a pooled kombu connection),
    and its management API at `api` when given; a queue it does not know has nothing."""
    managed = _managed(api, vhost=conn.virtual_host or "/") if api else {}
    return {
        name: BrokerQueue(
            ready, _age(managed.get(name, {}).get("head_message_timestamp"), ready=ready)
        )
        for name, ready in declared_counts(conn, names=names).items()
    }


def declared_counts(conn, *, names) -> dict[str, int]:
    """{queue: ready} from passive declares over `conn` (on Redis too, where kombu answers
    the list's length); a channel AMQP closes on a queue it does not know is replaced by a
    new one, closed at the end."""
    counted = {}
    channel, own = conn.default_channel, None  # kept with the pooled connection
    try:
        for name in names:
            try:
                _, ready, _ = channel.queue_declare(queue=name, passive=True)
            except conn.channel_errors:  # not declared: nothing was sent to it
                counted[name] = 0  # (Redis: an empty queue is no key at all)
                if not getattr(channel, "is_open", True):  # AMQP closed the channel
                    channel = own = conn.channel()
            else:
                counted[name] = ready
    finally:
        if own is not None:
            own.close()
    return counted


def _managed(api: str, *, vhost: str) -> dict[str, dict]:
    """{queue: its statistics} of the vhost from the management API, none when it does not
    answer within API_TIMEOUT_SECONDS (the counts from AMQP still stand)."""
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
            timeout=urllib3.Timeout(total=API_TIMEOUT_SECONDS),
            retries=False,
        )
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        queues = json.loads(response.data)
    except Exception as exc:
        logger.warning("RabbitMQ's management API at %s did not answer: %s", base, exc)
        return {}
    return {queue["name"]: queue for queue in queues}


def _age(published_at: float | None, *, ready: int) -> float | None:
    """Seconds since the head message was published, by this host's clock against the
    publisher's stamp; None for an empty queue or an unknown head."""
    if not ready or published_at is None:
        return None
    return max(time.time() - published_at, 0.0)
