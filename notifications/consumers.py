"""WebSocket /ws/notifications/: the caller's notifications, one JSON text frame each; from
the client, {"type": "sync", "last_id": N} (it saw a gap) and {"type": "ping"}
(docs/notifications.md, "How an event reaches a browser" and "Credentials for a stream or a
socket")."""

import asyncio
import json
import logging
from urllib.parse import parse_qsl

import redis
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import selectors
from .channel_layer import RESYNC
from .follower import Follower, db, event_id
from .services import stream_tokens

logger = logging.getLogger(__name__)

UNAUTHENTICATED = 4401
BAD_INPUT = 4400
# The socket's lifetime is over: reconnect (credentials are checked again).
EXPIRED = 4000
TRY_AGAIN_LATER = 1013
MAX_FRAME_CHARS = 4096
ERRORS_ALLOWED = 5


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    follower: Follower | None = None
    errors = 0
    _expiry: asyncio.TimerHandle | None = None

    async def connect(self):
        # All set up before the handshake completes: whatever is committed once the
        # client sees the socket open is newer than "from now", and reaches the group.
        query = dict(parse_qsl(self.scope["query_string"].decode("latin-1")))
        try:
            user_id = await self._user_id(query)
        except redis.RedisError:
            return await self._refuse(TRY_AGAIN_LATER)  # the token cannot be checked
        if user_id is None:
            return await self._refuse(UNAUTHENTICATED)
        try:
            last_id = event_id(query.get("last_id"))
        except ValueError:
            await self.accept()
            return await self._error("last_id must be a notification id.", close=True)
        if last_id is None:
            last_id = await db(selectors.notification_latest_id)(user_id=user_id)  # from now
        self.follower = Follower(
            layer=self.channel_layer,
            channel=self.channel_name,
            user_id=user_id,
            last_id=last_id,
            resync_soon=lambda: _in_background(self.from_layer(dict(RESYNC))),
        )
        missed = await self.follower.open()
        await self.accept()
        await self._send_all(missed)
        # When its time is up, a timer closes it; the client reconnects with last_id.
        self._expiry = asyncio.get_running_loop().call_later(
            settings.SHOPFLOW_STREAM_MAX_SECONDS, lambda: _in_background(self.close(code=EXPIRED))
        )

    async def _refuse(self, code: int) -> None:
        """Accepted, then closed: a close before the handshake would reach the client as
        an HTTP 403, without the code saying why."""
        await self.accept()
        await self.close(code=code)

    async def _user_id(self, query) -> int | None:
        if "token" in query:
            return await db(stream_tokens.stream_token_take)(token=query["token"])
        user = self.scope.get("user")
        return user.pk if user is not None and user.is_authenticated else None

    async def disconnect(self, code):
        if self.follower is not None:
            if self._expiry is not None:
                self._expiry.cancel()
            await self.follower.close()

    # --- from the client ---------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.follower is None:
            return  # closing
        if text_data is None:
            return await self._error("Frames are JSON text.")
        if len(text_data) > MAX_FRAME_CHARS:
            return await self._error(f"A frame is at most {MAX_FRAME_CHARS} characters.")
        try:
            content = json.loads(text_data)
        except ValueError:
            return await self._error("A frame is a JSON object.")
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "sync":
            try:
                after_id = event_id(content.get("last_id"))
            except (ValueError, TypeError):
                return await self._error("sync needs last_id, a notification id.")
            await self._send_all(await self.follower.replay(after_id=after_id or 0))
        else:
            await self._error('Unknown frame: send {"type": "sync" | "ping"}.')

    async def _error(self, detail: str, *, close: bool = False) -> None:
        self.errors += 1
        await self.send_json({"type": "error", "detail": detail})
        if close or self.errors >= ERRORS_ALLOWED:
            await self.close(code=BAD_INPUT)

    # --- from the channel layer (each type's handler, as Channels names them) -----------

    async def from_layer(self, message):
        await self._send_all(await self.follower.handle(message))

    notification_event = message_read = preferences_changed = layer_resync = from_layer

    async def _send_all(self, messages) -> None:
        for message in messages:
            await self.send_json(message)


_background: set[asyncio.Task] = set()


def _in_background(coroutine) -> None:
    """Run `coroutine` on this loop, kept referenced until done; a connection that closed
    meanwhile makes it fail, which is only logged."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_background_done)


def _background_done(task: asyncio.Task) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.debug("notifications: background work failed: %r", task.exception())
