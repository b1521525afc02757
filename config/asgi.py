"""The web application as gunicorn's uvicorn workers serve it: WebSockets to their consumers,
async views (the streams) on the event loop, every other view as WSGI in a pool of threads
(docs/architecture.md, "The web server")."""

import os

from a2wsgi import WSGIMiddleware
from asgiref.sync import iscoroutinefunction
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application
from django.core.handlers.wsgi import WSGIHandler
from django.urls import Resolver404, resolve

from core.env import env_int, settings_module
from core.telemetry import telemetry_start

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())

# Threads per web process for synchronous views: requests beyond this wait on the loop.
THREADS = env_int("WEB_THREADS", 4)

telemetry_start("web")  # before Django loads its middleware: the tracing one joins them
async_views = get_asgi_application()  # sets Django up: the apps can be imported now
from core.api import READ_METHODS  # noqa: E402
from core.probes import LIVENESS_PATH  # noqa: E402
from notifications.urls import websocket_urlpatterns  # noqa: E402

sync_views = WSGIMiddleware(WSGIHandler(), workers=THREADS)


async def live(send) -> None:
    """/livez on the event loop: the process serves while its loop turns, whatever its
    threads are waiting on (a full pool is /readyz's business, not a reason to restart)."""
    body = b'{"status": "ok"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def http(scope, receive, send):
    path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
    if path == LIVENESS_PATH and scope["method"] in READ_METHODS:
        return await live(send)
    try:
        view = resolve(path).func
    except Resolver404:
        view = None
    # Class-based views with async handlers are marked as coroutine functions by as_view().
    if iscoroutinefunction(view):
        return await async_views(scope, receive, send)
    return await sync_views(scope, receive, send)


class BrowserOriginCheck:
    """Channels' origin check, for browsers: they send Origin with every WebSocket, and a
    page of another site is refused. A client without an Origin is no browser (curl, an
    app): it is let in without its cookies, so only a token can open its socket."""

    def __init__(self, application):
        self.application = application
        self.checked = AllowedHostsOriginValidator(application)

    async def __call__(self, scope, receive, send):
        headers = scope.get("headers", [])
        if any(name == b"origin" for name, _ in headers):
            return await self.checked(scope, receive, send)
        cookieless = [(name, value) for name, value in headers if name != b"cookie"]
        return await self.application({**scope, "headers": cookieless}, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http,
        "websocket": BrowserOriginCheck(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        "lifespan": sync_views,  # a2wsgi answers it
    }
)
