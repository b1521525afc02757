"""Brokers a test owns or points at: a Redis server of its own, the machine's RabbitMQ,
the Celery app and the channel layer pointed elsewhere, and what waits in a queue."""

import contextlib
import copy
import json
import os
import subprocess
import tempfile

import redis
from django.conf import settings

# The runner's own helpers: tests start Redis the way `make run` does.
from devstack.stack import free_port, options_argv, redis_server_binary, wait_for_redis
from tests.support.polling import wait_until


def throwaway_redis_argv(port: int, directory: str) -> list[str]:
    """A redis-server on loopback that keeps nothing on disk (no snapshot, no append-only
    file): the tests' own, gone with its process."""
    return [
        redis_server_binary(),
        *options_argv(
            ("--port", str(port)),
            ("--bind", "127.0.0.1"),
            ("--save", ""),
            ("--appendonly", "no"),
            ("--dir", directory),
        ),
    ]


class RedisServer:
    """A redis-server process owned by the test: started on a free port, stoppable and
    restartable on the same port, to show what happens when the broker goes away."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="shopflow-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            throwaway_redis_argv(self.port, self.dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for_redis(self.url, timeout=10):
            raise AssertionError(f"redis-server on port {self.port} did not start")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def queued_task_ids(self, queue: str) -> list[str]:
        return queued_task_ids(self.url, queue)

    def close(self) -> None:
        self.stop()


# The machine's RabbitMQ (CI starts it): guest/guest on the default vhost.
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
QUEUES = ("default", "emails", "inventory", "analytics")


# Its management API (the rabbitmq_management plugin, which .ci/run enables).
RABBITMQ_API = os.environ.get("TEST_RABBITMQ_API", "http://guest:guest@127.0.0.1:15672/api")


def rabbitmq_api_answers(api: str = RABBITMQ_API) -> bool:
    from urllib.parse import urlsplit

    import requests

    parts = urlsplit(api)
    url = f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path}/overview"
    try:
        response = requests.get(url, auth=(parts.username, parts.password), timeout=2)
    except requests.RequestException:
        return False
    return response.status_code == 200


def rabbitmq_answers(url: str = AMQP_URL) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return False
    return True


class RabbitMQ:
    """The machine's RabbitMQ as a test's broker: its queues emptied, and stopped and
    started for real (`rabbitmqctl stop_app` closes every connection and the port)."""

    def __init__(self, url: str = AMQP_URL):
        self.url = url

    def start(self) -> "RabbitMQ":
        subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, check=True, timeout=60)
        subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True, timeout=60)
        wait_until(lambda: rabbitmq_answers(self.url), timeout=30, message="RabbitMQ")
        return self

    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "stop_app"], capture_output=True, check=True, timeout=60)

    def purge(self) -> None:
        from kombu import Connection

        with Connection(self.url) as conn:
            for queue in QUEUES:
                channel = conn.channel()  # a missing queue closes its channel: one each
                with contextlib.suppress(Exception):
                    channel.queue_purge(queue)
                with contextlib.suppress(Exception):
                    channel.close()

    def queued_task_ids(self, queue: str) -> list[str]:
        return queued_task_ids(self.url, queue)

    def close(self) -> None:
        if not rabbitmq_answers(self.url):
            self.start()  # a test that stopped it must not leave it stopped
        self.purge()


def channel_layer_on(settings, url: str) -> None:
    """Point this process's channel layer (and what reads its Redis beside it) at `url`,
    through pytest-django's `settings` fixture: Channels drops its cached layer when
    CHANNEL_LAYERS changes, and the fixture puts both back after the test."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["hosts"][0]["address"] = url
    settings.CHANNEL_LAYER_URL = url
    settings.CHANNEL_LAYERS = layers


@contextlib.contextmanager
def celery_broker(url: str):
    """Point the Celery app of this process at another broker for the block."""
    from worker.celery import app

    previous = app.conf.broker_url

    def switch(to):
        # kombu keeps pools per connection URL; dropping ours makes the next use take (or
        # make) the pool of the new URL.
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_url = to  # (tests/conftest.py keeps CELERY_BROKER_URL unset)
        settings.CELERY_BROKER_URL = to  # what /healthz checks

    switch(url)
    try:
        yield
    finally:
        switch(previous)


def queued_task_ids(broker: str, queue: str) -> list[str]:
    """Task ids of the messages waiting in a Celery queue, on Redis or RabbitMQ."""
    return [headers["id"] for headers in queued_headers(broker, queue)]


def queued_messages(broker: str, queue: str) -> list[tuple[dict, list]]:
    """(headers, args) of the messages waiting in a Celery queue (Redis only)."""
    import base64

    client = redis.Redis.from_url(broker)
    found = []
    for raw in reversed(client.lrange(queue, 0, -1)):  # LPUSHed: the oldest is last
        envelope = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        found.append((envelope["headers"], args))
    return found


def queued_headers(broker: str, queue: str) -> list[dict]:
    """The headers (task id and name ...) of the messages waiting in a Celery queue. On
    RabbitMQ they are read and given back, unacknowledged, when the channel closes."""
    if broker.startswith("amqp"):
        from kombu import Connection

        found = []
        with Connection(broker) as conn:
            channel = conn.channel()
            try:
                while (message := channel.basic_get(queue, no_ack=False)) is not None:
                    found.append(dict(message.headers))
            except Exception:  # no such queue yet: nothing was ever published to it
                return []
            finally:
                with contextlib.suppress(Exception):
                    channel.close()
        return found
    client = redis.Redis.from_url(broker)
    return [json.loads(raw)["headers"] for raw in client.lrange(queue, 0, -1)]
