"""Brokers a test owns or points at: a Redis server of its own, a RabbitMQ node of its
process's own, the Celery app and the channel layer pointed elsewhere, and what waits in a queue."""

import contextlib
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import redis
from django.conf import settings

# The runner's own helpers: tests start Redis the way `make run` does.
from devstack.stack import free_port, options_argv, redis_server_binary
from tests.support.parts import part_missing
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
        self.dir: str | None = None  # its working directory while it runs
        self.process: subprocess.Popen | None = None
        self.started = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        """Started on its port. The first time, on another free one when another test
        process took that port between free_port() and the bind: the server answering is
        this one (its pid), never someone else's that will go away with its test. Started
        again, on the same port (its clients' URL) or not at all."""
        self.dir = tempfile.mkdtemp(prefix=f"shopflow-redis-{os.getpid()}-")
        ports = [self.port] if self.started else [self.port, *(free_port() for _ in range(4))]
        self.started = True
        for self.port in ports:
            self.process = subprocess.Popen(
                throwaway_redis_argv(self.port, self.dir),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_until(self._answered_or_exited, timeout=10, message=f"redis-server {self.port}")
            if self.process.poll() is None:
                return self
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def _answered_or_exited(self) -> bool:
        if self.process.poll() is not None:
            return True
        try:
            with redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1) as r:
                return r.info("server")["process_id"] == self.process.pid
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)  # it kept nothing (--save "")
            self.dir = None

    def queued_task_ids(self, queue: str) -> list[str]:
        return queued_task_ids(self.url, queue)

    def close(self) -> None:
        self.stop()


# In a node's environment, and so in its helpers' (its Erlang processes): the pid of the
# test process that owns it. A redis-server writes its title over its environment: the
# directory it runs in (--dir) names its owner instead.
OWNER_VARIABLE = "SHOPFLOW_TEST_BROKER_OF"
OWNED_DIRECTORY = re.compile(r"shopflow-(?:redis|rabbitmq)-(\d+)-")


def broker_owner(pid: int) -> int | None:
    """The test process that owns process `pid`, if it is a broker of the tests or one of
    its helpers; else None."""
    proc = Path(f"/proc/{pid}")
    prefix = f"{OWNER_VARIABLE}=".encode()
    with contextlib.suppress(OSError, ValueError):
        if Path(os.readlink(proc / "exe")).name == "redis-server":
            found = OWNED_DIRECTORY.search(os.readlink(proc / "cwd"))
            return int(found[1]) if found else None
        for entry in (proc / "environ").read_bytes().split(b"\0"):
            if entry.startswith(prefix):
                return int(entry[len(prefix) :])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphaned_brokers_reap(*, owners: set[int] | None = None) -> list[int]:
    """The brokers (and their helpers) of test processes that are gone, of `owners` or of
    any: a SIGKILLed or interrupted run skips the fixtures that stop them. Killed, each by
    its pid, and their directories removed; those of a live test process (another suite
    beside this one) are left alone. Returns the pids killed."""

    def orphaned(owner: int | None) -> bool:
        return owner is not None and (owners is None or owner in owners) and not _alive(owner)

    killed = []
    for proc in Path("/proc").glob("[0-9]*"):
        if orphaned(broker_owner(int(proc.name))):
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
    for directory in Path(tempfile.gettempdir()).glob("shopflow-*"):
        found = OWNED_DIRECTORY.match(directory.name)
        if found and orphaned(int(found[1])):
            shutil.rmtree(directory, ignore_errors=True)
    return sorted(killed)


QUEUES = ("default", "emails", "inventory", "analytics")
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # Debian's rabbitmq-server package


class RabbitMQNode:
    """A RabbitMQ node of the test process's own, as RedisServer is for Redis: its name,
    ports, Erlang cookie, data and logs in a temporary directory, its management API on
    (sampling every second, not every five), guest allowed from loopback. Stopped and
    started for real (`stop_app` closes every connection and the port); gone with the
    process. Nothing of the machine's node is read or changed."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix=f"shopflow-rabbitmq-{os.getpid()}-"))
        self.port, self.api_port, dist_port = free_port(), free_port(), free_port()
        self.name = f"shopflow-test-{os.getpid()}@localhost"
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.api_port}\n"
            "collect_statistics_interval = 1000\n"
        )
        (self.dir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")  # not the machine's (/etc/rabbitmq)
        self.env = {
            **os.environ,
            OWNER_VARIABLE: str(os.getpid()),
            "HOME": str(self.dir),  # its own Erlang cookie, which rabbitmqctl reads too
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_DIST_PORT": str(dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def api(self) -> str:
        """Its management API, as SHOPFLOW_RABBITMQ_API takes it."""
        return f"http://guest:guest@127.0.0.1:{self.api_port}/api"

    def vhost_url(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def start(self) -> "RabbitMQNode":
        server = RABBITMQ_BIN / "rabbitmq-server"
        if not server.exists():
            part_missing(f"needs RabbitMQ ({server}; .ci/run installs it)")
        with open(self.dir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [server], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(self._serving, timeout=60, message=f"RabbitMQ node {self.name}")
        return self

    def _serving(self) -> bool:
        if self.process.poll() is not None:
            log = (self.dir / "server.log").read_text()
            raise AssertionError(f"RabbitMQ exited: {log[-2000:]}")
        return rabbitmq_answers(self.url) and rabbitmq_api_answers(self.api)

    def ctl(self, *args: str) -> None:
        """rabbitmqctl on this node. Bounded at 120 s: it starts an Erlang VM a call, and
        stop_app took over 60 s beside a second suite."""
        argv = [RABBITMQ_BIN / "rabbitmqctl", "-q", "-n", self.name, *args]
        subprocess.run(argv, env=self.env, capture_output=True, check=True, timeout=120)

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        wait_until(self._serving, timeout=60, message=f"RabbitMQ node {self.name}")

    @contextlib.contextmanager
    def vhost(self, name: str):
        """A vhost of this node for the block, guest's. Its URL. Through the management
        API: rabbitmqctl starts an Erlang VM a call (0.7 CPU-s; over 60 s on a machine
        running two suites)."""
        self._api("PUT", f"vhosts/{name}")
        try:
            permissions = {"configure": ".*", "write": ".*", "read": ".*"}
            self._api("PUT", f"permissions/{name}/guest", json=permissions)
            yield self.vhost_url(name)
        finally:
            self._api("DELETE", f"vhosts/{name}")

    def _api(self, method: str, path: str, **kwargs) -> None:
        import requests

        # self.api carries guest's credentials, which requests sends as basic auth.
        response = requests.request(method, f"{self.api}/{path}", timeout=60, **kwargs)
        response.raise_for_status()

    def close(self) -> None:
        """The node and its Erlang helpers gone (its data is thrown away: no clean stop)."""
        if self.process:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def rabbitmq_api_answers(api: str) -> bool:
    from urllib.parse import urlsplit

    import requests

    parts = urlsplit(api)
    url = f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path}/overview"
    try:
        response = requests.get(url, auth=(parts.username, parts.password), timeout=2)
    except requests.RequestException:
        return False
    return response.status_code == 200


def rabbitmq_answers(url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return False
    return True


class RabbitMQ:
    """The process's RabbitMQ node as a test's broker: its queues emptied before and after,
    stoppable (stop_app) and, when the test left it stopped, started again."""

    def __init__(self, node: RabbitMQNode):
        self.node = node
        self.url = node.url

    def start(self) -> "RabbitMQ":
        self.node.start_app()
        return self

    def stop(self) -> None:
        self.node.stop_app()

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
