"""GET /api/notifications/stream/: the caller's new notifications as Server-Sent Events.

An async view: under uvicorn an open stream is a coroutine waiting on a queue (core.asgi
sends async views to Django's ASGI handler), holding no database connection. Django's
ASGI handler still keeps an idle thread per request while it lasts (about 70 KB a stream
in bench/streams.py), so a host's thread limit bounds the streams of a process. Events come
from the channel layer (the user's group, as the WebSocket consumer's: notifications.live);
what a client missed, it gets from the database: after `Last-Event-ID` (sent by
EventSource when it reconnects; `?last_event_id=` for the first connection), and whenever
the layer may have dropped something (notifications.channel_layer).

Credentials: the session cookie, `Authorization: Token <key>`, or `?token=` from POST
/api/notifications/stream-token/ (signed, short-lived; an EventSource cannot send
headers, and an API token in a URL ends up in logs).
"""

import asyncio
import contextlib
import json

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user
from django.http import JsonResponse, StreamingHttpResponse
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from . import live
from .channel_layer import RESYNC, followers, join
from .services import stream_tokens


async def notification_stream(request):
    if request.method != "GET":
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    try:
        user_id, error = await _authenticate(request)
    except redis.RedisError:  # a stream token cannot be checked: as the socket's 1013
        response = JsonResponse({"detail": "Try again later."}, status=503)
        response["Retry-After"] = "5"
        return response
    if user_id is None:
        response = JsonResponse({"detail": error}, status=401)
        response["WWW-Authenticate"] = "Token"
        return response
    try:
        last_id = _last_event_id(request)
    except ValueError:
        return JsonResponse({"detail": "Last-Event-ID must be a notification id."}, status=400)
    if last_id is None:
        # "From now", read before the response starts: the client sees the stream open
        # (the headers go before the first event) only after this, so whatever is
        # committed once it has is newer.
        last_id = await live.latest_id(user_id=user_id)
    response = StreamingHttpResponse(
        _events(user_id, last_id), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


def _last_event_id(request) -> int | None:
    """The id of the last event the client has; None for none. ValueError when garbled."""
    return live.event_id(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))


async def _authenticate(request) -> tuple[int | None, str]:
    """(user id, "") or (None, why not)."""
    if "token" in request.GET:  # once, as a socket takes it: a URL may be replayed
        user_id = await stream_tokens.stream_token_take(token=request.GET["token"])
        if user_id is None:
            return None, "The stream token expired, was used already, or is not valid."
        return user_id, ""
    if request.headers.get("Authorization"):
        return await live.db(_token_user_id)(request)
    user = await live.db(get_user)(request)  # the session (request.auser() would use its thread)
    if user.is_authenticated:
        return user.pk, ""
    return None, "Authentication credentials were not provided."


def _token_user_id(request) -> tuple[int | None, str]:
    """DRF's token authentication (its header parsing and checks)."""
    try:
        found = TokenAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed as exc:
        return None, str(exc.detail)
    if found is None:  # another scheme (Basic ...)
        return None, "Invalid token header."
    return found[0].pk, ""


def _format(event: dict) -> str:
    return f"id: {event['id']}\nevent: notification\ndata: {json.dumps(event)}\n\n"


async def _events(user_id: int, last_id: int):
    stream = _Stream(user_id=user_id, last_id=last_id)
    await stream.open()  # into the group before reading the database: nothing falls between
    try:
        # Reconnect in 2 s when the connection drops (EventSource's default is 3 to 5).
        yield "retry: 2000\n\n"
        for event in await stream.feed.missed():
            yield _format(event)
        heartbeat = settings.SHOPFLOW_STREAM_HEARTBEAT_SECONDS
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + settings.SHOPFLOW_STREAM_MAX_SECONDS
        while True:
            left = ends_at - loop.time()
            if left <= 0:
                return  # the client reconnects, and its credentials are checked again
            try:
                message = await asyncio.wait_for(stream.inbox.get(), min(heartbeat, left))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if message["type"] == live.EVENT:
                events = stream.feed.fresh([message["event"]])
            elif message["type"] == live.RECEIPT:
                yield f"event: receipt\ndata: {json.dumps(message['receipt'])}\n\n"
                continue
            elif message["type"] == live.PREFERENCES_CHANGED:
                await stream.feed.load_preferences()
                continue
            else:  # notifications.channel_layer.RESYNC
                await stream.join()
                events = await stream.feed.missed()
            for event in events:
                yield _format(event)
    finally:
        await stream.shut()


class _Stream:
    """One SSE response's place on the channel layer: a channel in the user's group, read
    into `inbox` by a task of its own, where this process's watch (notifications.channel_layer)
    also puts its resync."""

    def __init__(self, *, user_id: int, last_id: int):
        self.feed = live.Feed(user_id=user_id, last_id=last_id)
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.layer = get_channel_layer()
        self.channel = ""
        self.reader: asyncio.Task | None = None

    async def open(self) -> None:
        followers().add(self)
        await self.feed.load_preferences()
        self.channel = await self.layer.new_channel()
        await self.join()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def join(self) -> None:
        await join(self.layer, live.user_group(self.feed.user_id), self.channel)

    async def _read(self) -> None:
        while True:
            self.inbox.put_nowait(await self.layer.receive(self.channel))

    def resync_soon(self) -> None:
        self.inbox.put_nowait(dict(RESYNC))

    async def shut(self) -> None:
        followers().discard(self)
        if self.reader is not None:
            self.reader.cancel()
        if self.channel:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(live.user_group(self.feed.user_id), self.channel)
