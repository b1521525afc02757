"""Notifications pushed live: published after commit to Redis pub/sub by whatever process
wrote them (a web thread, a Celery worker), and fanned out in every web process to the
open streams of their recipient (notifications.stream).

One channel for all users: each web process subscribes once, whatever the number of
streams it holds, and hands a message only to the streams of its recipient. A message
carries the notification as the API shows it, so an open stream costs no query per event.
Pub/sub delivers to whoever listens at that moment and keeps nothing: the database is the
record, and a stream that may have missed something (it connected, Redis came back) reads
what is newer than the last event it sent.
"""

import asyncio
import contextlib
import functools
import json
import logging
import threading
import time

import redis
import redis.asyncio
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core.after_response import call_after_response

from .serializers import NotificationSerializer

logger = logging.getLogger(__name__)

CHANNEL = "shopflow:notifications"
# Put on a stream's queue instead of an event: read what you missed from the database.
RESYNC = {"resync": True}
# Put on a stream's queue when the process shuts down: end the response.
CLOSE = {"close": True}
# Events a slow client may have waiting before it is told to catch up from the database.
QUEUE_SIZE = 256
RECONNECT_SECONDS = 1.0


@functools.cache
def channel(url: str) -> str:
    """The pub/sub channel of the Redis database `url` names. Channels are server-wide,
    not per database: two shops on one Redis server (a developer's `make run` beside the
    tests, say) would otherwise each receive the other's notifications for the same user
    ids. The database number goes in front, as kombu's fanout_prefix does."""
    return f"/{redis.connection.parse_url(url).get('db', 0)}.{CHANNEL}"


def notification_event(notification) -> dict:
    """A notification as the API shows it (its serializer), for the stream."""
    return dict(NotificationSerializer(notification).data)


_clients = threading.local()


def _client() -> redis.Redis:
    """This thread's connection to the pub/sub Redis (kept: a PUBLISH is one round trip)."""
    url = settings.SHOPFLOW_REDIS_URL
    cached = getattr(_clients, "by_url", None)
    if cached is None or cached[0] != url:
        cached = _clients.by_url = (
            url,
            redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2),
        )
    return cached[1]


def notifications_publish(notifications) -> None:
    """Push committed notifications to their recipients' open streams: after the
    response inside a request (the client does not wait for Redis), at once elsewhere (a
    worker). Never raises: a push that does not happen is caught up by the streams from
    the database when their subscription comes back."""
    if notifications and not call_after_response(lambda: _publish(notifications)):
        _publish(notifications)


# After a failed push, pushes from this process stand aside for a few seconds: Redis is
# away, every stream's subscription with it, and they resync from the database anyway.
PUSH_PAUSE_SECONDS = 5.0
_push_paused_until = 0.0


def _publish(notifications) -> None:
    global _push_paused_until
    if time.monotonic() < _push_paused_until:
        return
    try:
        pipe = _client().pipeline(transaction=False)
        for notification in notifications:
            payload = {"user": notification.recipient_id, "event": notification_event(notification)}
            pipe.publish(channel(settings.SHOPFLOW_REDIS_URL), json.dumps(payload))
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        _push_paused_until = time.monotonic() + PUSH_PAUSE_SECONDS
        logger.warning("notifications: live push of %s failed: %s", len(notifications), exc)


class Hub:
    """One event loop's subscription, and the queues of its open streams by user."""

    def __init__(self):
        self.listeners: dict[int, set[asyncio.Queue]] = {}
        self.task: asyncio.Task | None = None

    def listen(self, user_id: int) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.listeners.setdefault(user_id, set()).add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return queue

    def unlisten(self, user_id: int, queue: asyncio.Queue) -> None:
        queues = self.listeners.get(user_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self.listeners[user_id]

    def _deliver(self, queue: asyncio.Queue, item: dict) -> None:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            # A client that does not keep up: drop what waits, let it read the database.
            _replace_all(queue, RESYNC)

    def close_all(self) -> None:
        for queues in self.listeners.values():
            for queue in queues:
                _replace_all(queue, CLOSE)

    def _resync_all(self) -> None:
        for queues in self.listeners.values():
            for queue in queues:
                self._deliver(queue, RESYNC)

    async def _run(self) -> None:
        while True:
            # No retries: redis-py would reconnect and subscribe again on its own, and what
            # was published in the gap would never reach the streams. A lost connection
            # must come here, where the streams are told to catch up from the database.
            client = redis.asyncio.Redis.from_url(
                settings.SHOPFLOW_REDIS_URL, retry=Retry(NoBackoff(), 0)
            )
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(channel(settings.SHOPFLOW_REDIS_URL))
                    # Whatever was committed while no subscription was in place.
                    self._resync_all()
                    loop = asyncio.get_running_loop()
                    last_heard = loop.time()
                    # A quiet subscription is pinged as often as idle streams get a
                    # heartbeat; no answer in twice that means reconnect.
                    ping_seconds = settings.SHOPFLOW_STREAM_HEARTBEAT_SECONDS
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=ping_seconds
                        )
                        if message is None:
                            # Quiet. A connection that died silently (no reset) would
                            # leave every stream waiting: ping, and give up on it when
                            # not even a pong came back since the last ping.
                            if loop.time() - last_heard > 2 * ping_seconds:
                                raise ConnectionError("no answer from Redis to a ping")
                            await pubsub.ping()
                            continue
                        last_heard = loop.time()  # an event, or the pong
                        if message.get("type") != "message":
                            continue
                        payload = json.loads(message["data"])
                        for queue in tuple(self.listeners.get(payload["user"], ())):
                            self._deliver(queue, payload["event"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("notifications: Redis subscription lost (%s); retrying", exc)
                await asyncio.sleep(RECONNECT_SECONDS)
                # Streams go on; they catch up once the subscription is back.
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()


def _replace_all(queue: asyncio.Queue, item: dict) -> None:
    """Drop what waits in the queue and leave `item` alone in it."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(item)


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """This event loop's hub (a web process has one loop)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        for old in [old for old in _hubs if old.is_closed()]:
            del _hubs[old]
        found = _hubs[loop] = Hub()
    return found


def end_streams(sender=None, **kwargs) -> None:
    """End every open stream of this process (core.signals.graceful_shutdown: a graceful
    shutdown has begun). Safe to call from a signal handler: the work is handed to each
    hub's event loop."""
    for loop, found in list(_hubs.items()):
        if not loop.is_closed():
            loop.call_soon_threadsafe(found.close_all)
