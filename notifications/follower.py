"""Following a person's group on the channel layer for one open connection, whichever its
transport (.consumers: WebSocket; .stream: SSE): join before reading the database, send what
the client missed, turn each message of the layer into what the client gets ({"type":
"notification", ...the notification as the API shows it, "unread", "unread_as_of"} or
{"type": "receipt", ...}), resync when the layer may have dropped something, leave
(docs/notifications.md, "How an event reaches a browser")."""

import asyncio
import contextlib
import logging
import weakref

import redis.asyncio
from channels.db import database_sync_to_async
from django.conf import settings

from . import live, selectors
from .channel_layer import REDIS_OPTIONS

logger = logging.getLogger(__name__)

# Events of the backlog sent at most per catch-up; a client that missed more gets the
# rest from the list API (the page does) or on its next reconnect.
BACKLOG_LIMIT = 200
# Ids of events a connection sent, remembered to send none twice.
SENT_REMEMBERED = 1000
# After Redis is back, followers resync once more this much later: a publisher that failed
# during the outage stands aside for a few seconds (notifications.live), and what it
# committed meanwhile was never sent.
SECOND_RESYNC_SECONDS = 10.0


def db(function):
    """`function` run in the event loop's shared thread pool, not in a thread of the
    connection's own: a database connection opened there would stay open as long as the
    stream (a thousand streams, a thousand connections). The pool's few threads keep
    theirs (CONN_MAX_AGE), checked before and after each use as a request's would be
    (Channels' database_sync_to_async)."""
    return database_sync_to_async(function, thread_sensitive=False)


def event_id(raw) -> int | None:
    """A notification id a client sent (a query parameter, a header, a JSON number); None
    for none, ValueError when garbled."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ValueError(raw)
    value = int(raw.strip()) if isinstance(raw, str) else raw
    if not 0 <= value < 2**63:
        raise ValueError(raw)
    return value


class Follower:
    """One connection's place in its person's group, and what it has sent its user: it
    sends each notification once, whichever way it came (the layer, a catch-up from the
    database). `resync_soon()`, the transport's, has it resync from its own task (this
    process's watch calls it, from the loop).

    A catch-up reads after `synced_id`, the newest id a read of the database has covered,
    never after the newest id sent: an event that came live while older ones were lost
    (Redis away, their pushes never made) must not hide them."""

    def __init__(self, *, layer, channel: str, user_id: int, last_id: int, resync_soon):
        self.layer, self.channel = layer, channel
        self.user_id, self.group = user_id, live.user_group(user_id)
        self.resync_soon = resync_soon
        self.synced_id = last_id
        self.sent: set[int] = set()
        self.muted: set[str] = set()  # kinds the person turned off in the app

    async def open(self) -> list[dict]:
        """Join, before reading the database (nothing committed falls in between); what
        the client missed, to send first. An open that fails halfway (joined, its
        catch-up's read failed) leaves at once, not when the group expires: its caller
        (a stream, a consumer whose connect raised) has no close to run yet."""
        followers().add(self)
        try:
            await self.load_preferences()
            await join(self.layer, self.group, self.channel)
            return await self.missed()
        except BaseException:
            await self.close()
            raise

    async def handle(self, message: dict) -> list[dict]:
        """What the client gets for a message of the layer (or its RESYNC)."""
        if message["type"] == live.EVENT:
            fresh = self.fresh([message["event"]])
            if fresh:  # published after its commit: the count read now is after it
                unread = await followers().unread(self.user_id, fresh[-1]["id"])
                fresh = [{"type": "notification", **event, **unread._asdict()} for event in fresh]
            return fresh
        if message["type"] == live.RECEIPT:
            return [{"type": "receipt", **message["receipt"]}]
        if message["type"] == live.PREFERENCES_CHANGED:
            await self.load_preferences()
            return []
        # RESYNC: the layer (or a stream that fell behind) may have dropped messages, a
        # change of preferences among them, or Redis forgot the group.
        await join(self.layer, self.group, self.channel)
        await self.load_preferences()
        return await self.missed()

    async def close(self) -> None:
        followers().open.discard(self)
        with contextlib.suppress(Exception):  # Redis away: the group expires anyway
            await self.layer.group_discard(self.group, self.channel)

    async def load_preferences(self) -> None:
        self.muted = set(await db(selectors.kinds_muted_in_app)(user_id=self.user_id))

    def fresh(self, events) -> list[dict]:
        """The events not sent yet, recorded as sent; none of a muted kind."""
        new = [e for e in events if e["kind"] not in self.muted and e["id"] not in self.sent]
        self.sent.update(event["id"] for event in new)
        if len(self.sent) > SENT_REMEMBERED:
            kept = sorted(self.sent)[-SENT_REMEMBERED // 2 :]
            # What is forgotten is not read again.
            self.synced_id = max(self.synced_id, kept[0] - 1)
            self.sent = set(kept)
        return new

    async def missed(self) -> list[dict]:
        """What the database has after `synced_id` that this connection has not sent,
        recorded as sent."""
        events = await self._after(self.synced_id)
        if events:
            self.synced_id = max(self.synced_id, events[-1]["id"])
        return self.fresh(events)

    async def replay(self, *, after_id: int) -> list[dict]:
        """Everything the database has after `after_id`, sent or not (the client saw a
        gap), recorded as sent."""
        events = [event for event in await self._after(after_id) if event["kind"] not in self.muted]
        self.fresh(events)
        return events

    async def _after(self, after_id: int) -> list[dict]:
        rows = await db(selectors.notifications_after)(
            user_id=self.user_id, after_id=after_id, limit=BACKLOG_LIMIT
        )
        if not rows:
            return []
        unread = (await db(selectors.notification_unread)(user_id=self.user_id))._asdict()
        return [{"type": "notification", **live.notification_event(row), **unread} for row in rows]


async def join(layer, group: str, channel: str) -> None:
    """Put `channel` in `group`. When Redis is away it is logged and the follower goes on:
    this process's watch has it resync, joining again, once Redis answers."""
    try:
        await layer.group_add(group, channel)
    except (redis.RedisError, OSError) as exc:
        logger.warning("channel layer: joining %s failed (%s); waiting for Redis", group, exc)


class Followers:
    """The connections of this process (its event loop) that follow groups on the layer.
    A follower has `resync_soon()`, safe to call from the loop."""

    def __init__(self):
        self.open: weakref.WeakSet = weakref.WeakSet()
        self.watch: asyncio.Task | None = None
        self.counting: dict[tuple[int, int], asyncio.Future] = {}
        self.redis = redis.asyncio.Redis.from_url(settings.CHANNEL_LAYER_URL, **REDIS_OPTIONS)

    async def unread(self, user_id: int, event_id: int) -> selectors.Unread:
        """The person's unread count for the frames of one event: one read for all of
        their connections here (a person's tabs get the same event at once)."""
        key = (user_id, event_id)
        if key not in self.counting:
            read = db(selectors.notification_unread)(user_id=user_id)
            self.counting[key] = asyncio.ensure_future(read)
            self.counting[key].add_done_callback(lambda _: self.counting.pop(key, None))
        return await asyncio.shield(self.counting[key])

    def add(self, follower) -> None:
        self.open.add(follower)
        if self.watch is None or self.watch.done():
            self.watch = asyncio.get_running_loop().create_task(self._watch())

    def resync_all(self) -> None:
        for follower in list(self.open):
            follower.resync_soon()

    async def _watch(self) -> None:
        """Ask Redis who it is, every heartbeat: no answer, then an answer, or an answer
        from another server (its run_id), means groups and messages may be gone."""
        known, lost = None, False
        while self.open:
            try:
                run_id = (await self.redis.info("server"))["run_id"]
            except (redis.RedisError, OSError) as exc:
                if not lost:
                    logger.warning("channel layer: Redis does not answer (%s)", exc)
                lost = True
            else:
                if lost or (known is not None and run_id != known):
                    logger.warning("channel layer: Redis is back; followers resync")
                    self.resync_all()
                    asyncio.get_running_loop().call_later(SECOND_RESYNC_SECONDS, self.resync_all)
                known, lost = run_id, False
            await asyncio.sleep(settings.SHOPFLOW_STREAM_HEARTBEAT_SECONDS)


_followers: dict[asyncio.AbstractEventLoop, Followers] = {}


def followers() -> Followers:
    """This event loop's followers (a web process has one loop)."""
    loop = asyncio.get_running_loop()
    found = _followers.get(loop)
    if found is None:
        for old in [old for old in _followers if old.is_closed()]:
            del _followers[old]
        found = _followers[loop] = Followers()
    return found
