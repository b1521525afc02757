"""The channel layer (Channels on Redis) as notifications use it: a receive that fails
answers RESYNC instead of raising (its follower resyncs from the database, so one lost
connection does not end a consumer); `layer_call` sends from synchronous code on one event
loop a process; `redis_client` talks to the layer's Redis beside it (the followers hold
their event loop's own client: notifications.follower)."""

import asyncio
import functools
import logging
import os
import threading

import redis
from channels_redis.core import RedisChannelLayer as _RedisChannelLayer

logger = logging.getLogger(__name__)

# The message a follower gets when it may have missed something: its consumer's
# layer_resync() runs.
RESYNC = {"type": "layer.resync"}
RETRY_SECONDS = 1.0


class RedisChannelLayer(_RedisChannelLayer):
    """channels-redis's layer, whose receive answers RESYNC, after a pause, when Redis
    fails under it (the caller resyncs, then receives again)."""

    async def receive(self, channel):
        try:
            return await super().receive(channel)
        except (redis.RedisError, OSError) as exc:
            logger.warning("channel layer: receive failed (%s); followers resync", exc)
            await asyncio.sleep(RETRY_SECONDS)
            return dict(RESYNC)


# The channel layer's Redis, for what notifications ask of it beside the layer (a key set
# once).
REDIS_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}


@functools.cache
def redis_client(url: str) -> redis.Redis:
    """This process's client of the Redis at `url` (settings.CHANNEL_LAYER_URL), for
    synchronous code."""
    return redis.Redis.from_url(url, **REDIS_OPTIONS)


# A send from synchronous code waits this long at most; Redis answers in milliseconds.
LAYER_CALL_SECONDS = 5.0


class _LayerLoop:
    """The event loop, in a daemon thread, on which this process's synchronous code talks
    to the channel layer: async_to_sync would make a loop, so a Redis connection pool, per
    call. Made on first use, and again in a forked child (a Celery pool process), where
    the parent's thread does not run."""

    def __init__(self):  # and again in a forked child: a lock of its own, no loop yet
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self._loop.run_forever, name="channel-layer-loop", daemon=True
                ).start()
            return self._loop


_layer_loop = _LayerLoop()
os.register_at_fork(after_in_child=_layer_loop.__init__)


def layer_call(function, *args, timeout: float = LAYER_CALL_SECONDS):
    """`await function(*args)` on this process's layer loop, from synchronous code, and
    its result; what it raises, or TimeoutError after `timeout` seconds (it is
    cancelled). Not from the layer loop's own thread."""
    loop = _layer_loop.get()
    future = asyncio.run_coroutine_threadsafe(function(*args), loop)
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise
