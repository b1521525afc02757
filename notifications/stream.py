"""GET /api/notifications/stream/: the caller's new notifications as Server-Sent Events.

An async view: under uvicorn an open stream is a coroutine waiting on a queue (core.asgi
sends async views to Django's ASGI handler), holding no database connection. Django's
ASGI handler still keeps an idle thread per request while it lasts (about 70 KB a stream
in bench/streams.py), so a host's thread limit bounds the streams of a process. Events come from the
process's Redis subscription (notifications.live); what a client missed, it gets from the database:
after `Last-Event-ID` (sent by EventSource when it reconnects; `?last_event_id=` for the
first connection), and whenever the subscription may have dropped something.

Credentials: the session cookie, `Authorization: Token <key>`, or `?token=` from POST
/api/notifications/stream-token/ (signed, short-lived; an EventSource cannot send
headers, and an API token in a URL ends up in logs).
"""

import asyncio
import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.db import close_old_connections
from django.http import JsonResponse, StreamingHttpResponse
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from . import live, selectors, services


def _db(function):
    """`function` run in the event loop's shared thread pool, not in this request's own
    thread: Django gives every ASGI request a thread for its thread-sensitive calls, and a
    database connection opened there would stay open as long as the stream (a thousand
    streams, a thousand connections). The pool's few threads keep theirs (CONN_MAX_AGE),
    checked before each use as a request would."""

    def call(*args, **kwargs):
        close_old_connections()
        return function(*args, **kwargs)

    return sync_to_async(call, thread_sensitive=False)


# Events of the backlog sent at most per read; a client that missed more gets the rest
# from the list API (the page does) or on its next reconnect.
BACKLOG_LIMIT = 200
# Ids of events a stream sent, remembered to send none twice.
SENT_REMEMBERED = 1000


async def notification_stream(request):
    if request.method != "GET":
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    user_id, error = await _authenticate(request)
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
        last_id = await _db(selectors.notification_latest_id)(user_id=user_id)
    response = StreamingHttpResponse(
        _events(user_id, last_id), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events on as they come
    return response


def _last_event_id(request) -> int | None:
    """The id of the last event the client has; None for none. ValueError when garbled."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    if raw is None or raw == "":
        return None
    value = int(raw.strip())  # ValueError for anything else
    if not 0 <= value < 2**63:
        raise ValueError(raw)
    return value


async def _authenticate(request) -> tuple[int | None, str]:
    """(user id, "") or (None, why not)."""
    if "token" in request.GET:
        user_id = services.stream_token_user_id(token=request.GET["token"])
        if user_id is None:
            return None, "The stream token expired or is not valid."
        active = await _db(_active_user_ids)([user_id])
        return (user_id, "") if active else (None, "User inactive or deleted.")
    if request.headers.get("Authorization"):
        return await _db(_token_user_id)(request)
    user = await _db(get_user)(request)  # the session (request.auser() would use its thread)
    if user.is_authenticated:
        return user.pk, ""
    return None, "Authentication credentials were not provided."


def _active_user_ids(user_ids):
    return list(
        get_user_model()
        .objects.filter(pk__in=user_ids, is_active=True)
        .values_list("pk", flat=True)
    )


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
    hub = live.hub()
    queue = hub.listen(user_id)  # before reading the database: nothing falls in between
    try:
        # Reconnect in 2 s when the connection drops (EventSource's default is 3 to 5).
        yield "retry: 2000\n\n"
        sent: set[int] = set()
        for event in await _missed(user_id, last_id):
            yield _format(event)
            sent.add(event["id"])
            last_id = event["id"]
        heartbeat = settings.SHOPFLOW_STREAM_HEARTBEAT_SECONDS
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + settings.SHOPFLOW_STREAM_MAX_SECONDS
        while True:
            left = ends_at - loop.time()
            if left <= 0:
                return  # the client reconnects, and its credentials are checked again
            try:
                item = await asyncio.wait_for(queue.get(), min(heartbeat, left))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if item is live.CLOSE:
                return  # the process is shutting down; the client reconnects elsewhere
            events = await _missed(user_id, last_id) if item is live.RESYNC else [item]
            for event in events:
                # Not "id > last": two transactions for one user may commit (and publish)
                # out of id order; the later-numbered one must not hide the other.
                if event["id"] not in sent:
                    yield _format(event)
                    sent.add(event["id"])
                    last_id = max(last_id, event["id"])
            if len(sent) > SENT_REMEMBERED:
                sent = set(sorted(sent)[-SENT_REMEMBERED // 2 :])
    finally:
        hub.unlisten(user_id, queue)


async def _missed(user_id: int, after_id: int) -> list[dict]:
    rows = await _db(selectors.notifications_after)(
        user_id=user_id, after_id=after_id, limit=BACKLOG_LIMIT
    )
    return [live.notification_event(row) for row in rows]
