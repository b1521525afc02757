"""GET /api/notifications/stream/: the caller's new notifications as Server-Sent Events
(docs/notifications.md, "How an event reaches a browser").

An async view: an open stream is a coroutine waiting on a queue, holding no database
connection; Django's ASGI handler still keeps an idle thread per request while it lasts, so
a host's thread limit bounds the streams of a process. Credentials: the session,
`Authorization: Token <key>`, or `?token=` from POST /api/notifications/stream-token/ (an
EventSource cannot send headers, and an API token in a URL ends up in logs)."""

import asyncio
import json

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user
from django.http import JsonResponse, StreamingHttpResponse
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from . import selectors
from .channel_layer import RESYNC
from .follower import Follower, db, event_id
from .services import stream_tokens


async def notification_stream(request):
    if request.method != "GET":
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    try:
        user_id, error = await _authenticate(request)
    except redis.RedisError:  # a stream token cannot be checked: as the socket's 1013
        return JsonResponse(
            {"detail": "Try again later."}, status=503, headers={"Retry-After": "5"}
        )
    if user_id is None:
        return JsonResponse({"detail": error}, status=401, headers={"WWW-Authenticate": "Token"})
    try:  # the id of the last event the client has (EventSource sends it on a reconnect)
        last_id = event_id(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))
    except ValueError:
        return JsonResponse({"detail": "Last-Event-ID must be a notification id."}, status=400)
    if last_id is None:
        # "From now", read before the response starts: the client sees the stream open
        # (the headers go before the first event) only after this, so whatever is
        # committed once it has is newer.
        last_id = await db(selectors.notification_latest_id)(user_id=user_id)
    response = StreamingHttpResponse(
        _events(user_id, last_id), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


async def _authenticate(request) -> tuple[int | None, str]:
    """(user id, "") or (None, why not)."""
    if "token" in request.GET:  # once, as a socket takes it: a URL may be replayed
        user_id = await db(stream_tokens.stream_token_take)(token=request.GET["token"])
        if user_id is None:
            return None, "The stream token expired, was used already, or is not valid."
        return user_id, ""
    if request.headers.get("Authorization"):  # DRF's token authentication (its checks)
        try:
            found = await db(TokenAuthentication().authenticate)(request)
        except exceptions.AuthenticationFailed as exc:
            return None, str(exc.detail)
        if found is None:  # another scheme (Basic ...)
            return None, "Invalid token header."
        return found[0].pk, ""
    user = await db(get_user)(request)  # the session (request.auser() would use its thread)
    if user.is_authenticated:
        return user.pk, ""
    return None, "Authentication credentials were not provided."


def _format(message: dict) -> str:
    """A follower's message as an SSE event: a notification has its id as the event's."""
    kind, data = message["type"], {k: v for k, v in message.items() if k != "type"}
    first = f"id: {data['id']}\n" if kind == "notification" else ""
    return f"{first}event: {kind}\ndata: {json.dumps(data)}\n\n"


async def _events(user_id: int, last_id: int):
    layer, inbox = get_channel_layer(), asyncio.Queue()  # kept to INBOX_LIMIT by _read
    channel = await layer.new_channel()
    follower = Follower(
        layer=layer,
        channel=channel,
        user_id=user_id,
        last_id=last_id,
        resync_soon=lambda: inbox.put_nowait(dict(RESYNC)),
    )
    missed = await follower.open()
    loop = asyncio.get_running_loop()
    reader = loop.create_task(_read(layer, channel, inbox))
    try:
        # Reconnect in 2 s when the connection drops (EventSource's default is 3 to 5).
        yield "retry: 2000\n\n"
        for message in missed:
            yield _format(message)
        heartbeat = settings.SHOPFLOW_STREAM_HEARTBEAT_SECONDS
        ends_at = loop.time() + settings.SHOPFLOW_STREAM_MAX_SECONDS
        while (left := ends_at - loop.time()) > 0:
            try:
                received = await asyncio.wait_for(inbox.get(), min(heartbeat, left))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            for message in await follower.handle(received):
                yield _format(message)
        # Its time is up: the client reconnects, and its credentials are checked again.
    finally:
        reader.cancel()
        await follower.close()


# Layer messages a stream holds at most while its client (or the database) is slow.
INBOX_LIMIT = 100


async def _read(layer, channel: str, inbox: asyncio.Queue) -> None:
    """The channel's messages into the stream's inbox, where resyncs also go. A stream
    INBOX_LIMIT behind takes no more: it gets one RESYNC instead, and catches up from the
    database once it has sent what it holds (a receipt in between is not sent live). The
    reader goes back into receive() at once, where a cancel lets channels-redis drop the
    channel's buffer; a reader cancelled while waiting for room would leave it behind."""
    behind = False
    while True:
        message = await layer.receive(channel)
        if inbox.qsize() < INBOX_LIMIT:
            behind = False
            inbox.put_nowait(message)
        elif not behind:
            behind = True
            inbox.put_nowait(dict(RESYNC))
