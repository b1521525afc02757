"""config.asgi: async views on the event loop, everything else in the WSGI thread pool."""

import json
import threading

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

from config.asgi import application


def get(path: str) -> tuple[int, dict]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 12345),
        "server": ("testserver", 80),
    }

    async def call():
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(timeout=10)
        body = b""
        while True:
            message = await communicator.receive_output(timeout=10)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        return start["status"], json.loads(body), threading.current_thread().name

    status, data, loop_thread = async_to_sync(call)()
    data["loop_thread"] = loop_thread
    return status, data


@pytest.fixture
def thread_urls(settings):
    settings.ROOT_URLCONF = "tests.config.asgi_urls"
    settings.ALLOWED_HOSTS = ["testserver"]


def test_a_sync_view_runs_in_the_wsgi_thread_pool(thread_urls):
    status, data = get("/sync/")
    assert status == 200
    assert data["thread"].startswith("WSGI")


def test_an_async_view_runs_on_the_event_loop(thread_urls):
    status, data = get("/async/")
    assert status == 200
    assert data["thread"] == data["loop_thread"]


@pytest.mark.django_db
def test_the_api_answers_through_the_asgi_application():
    status, data = get("/api/orders/")
    assert status == 401  # served by DRF (in the pool), with its JSON error
    assert "detail" in data


def test_lifespan_startup_and_shutdown_complete():
    async def run():
        communicator = ApplicationCommunicator(application, {"type": "lifespan"})
        await communicator.send_input({"type": "lifespan.startup"})
        started = await communicator.receive_output(timeout=5)
        await communicator.send_input({"type": "lifespan.shutdown"})
        stopped = await communicator.receive_output(timeout=5)
        return started["type"], stopped["type"]

    assert async_to_sync(run)() == ("lifespan.startup.complete", "lifespan.shutdown.complete")
