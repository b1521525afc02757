"""Helpers of the tests: real servers (a Redis server the test owns, an SMTP server, the
project's own processes), API clients, polling."""

import asyncio
import contextlib
import copy
import email
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection

# The runner's own helpers: tests start Redis the way `make run` does.
from devstack.stack import free_port, redis_server_binary, wait_for_redis


class Metrics:
    """A /metrics answer, parsed by prometheus-client's own parser."""

    def __init__(self, text: str):
        from prometheus_client.parser import text_string_to_metric_families

        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels) -> float | None:
        """The sample `name` whose labels include `labels`; None when there is none."""
        found = [
            s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()
        ]
        assert len(found) <= 1, f"{len(found)} samples match {name} {labels}"
        return found[0] if found else None


def browser_log_in(page, url: str, *, username: str, password: str) -> None:
    """Open `url` in a Playwright page, be sent to the login page (it needs a session),
    log in there and land back on `url`."""
    page.goto(url)
    assert "/account/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(url)


def client_for(user):
    """An API client that authenticates as `user` with their token."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def wait_for_a_lock_wait(timeout: float = 10.0) -> None:
    """Wait until some transaction waits for a lock another holds (PostgreSQL's pg_locks):
    the moment a test's second transaction is blocked, without guessing how long it takes."""

    def waiting() -> bool:
        with connection.cursor() as cursor:
            # A row lock waited for shows as a transactionid lock, which names no database:
            # the waiting backend's does.
            cursor.execute(
                "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = current_database()"
            )
            return cursor.fetchone() is not None

    wait_until(waiting, timeout=timeout, message="a transaction to wait on a lock")


def wait_until(predicate, *, timeout: float = 20.0, interval: float = 0.1, message: str = ""):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)  # the polling interval between two checks, not a wait for state


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
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
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


@dataclass
class SmtpHandler:
    """Accepts mail, or refuses DATA with a temporary (451) or permanent (554) error."""

    messages: list[Message] = field(default_factory=list)
    attempts: int = 0
    refuse_next: int = 0  # refuse this many deliveries temporarily, then accept
    refuse_always: bool = False
    refuse_to: set[str] = field(default_factory=set)  # refuse mail to these for good (554)
    defer_to: dict[str, int] = field(default_factory=dict)  # address: times to refuse (451)
    delay_next: float = 0.0  # hold the next delivery this long before answering
    delaying: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        if self.delay_next:
            delay, self.delay_next = self.delay_next, 0.0
            self.delaying.set()
            await asyncio.sleep(delay)
        with self.lock:
            self.attempts += 1
            if self.refuse_always or self.refuse_to & set(envelope.rcpt_tos):
                return "554 5.7.1 Message rejected"
            deferred = [to for to in envelope.rcpt_tos if self.defer_to.get(to, 0) > 0]
            for to in deferred:
                self.defer_to[to] -= 1
            if deferred:
                return "451 4.3.0 Try again later"
            if self.refuse_next > 0:
                self.refuse_next -= 1
                return "451 4.3.0 Try again later"
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class SmtpServer:
    def __init__(self):
        self.handler = SmtpHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def messages(self) -> list[Message]:
        return list(self.handler.messages)

    def messages_to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in m.get("To", "")]


def body_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    return ""


def database_url() -> str:
    """A URL for the database this test runs against, for worker subprocesses."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf["PASSWORD"] else "")
    return f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


def subprocess_env(**overrides) -> dict[str, str]:
    """This test's database for a subprocess, with the project's own settings module
    (development defaults come with DJANGO_DEBUG=1, which tests/settings.py set)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "core.settings",
    }
    env.update({key: str(value) for key, value in overrides.items()})
    return env


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


PROJECT_DIR = Path(__file__).resolve().parent.parent


class ServiceProcess:
    """A command of the project's, as `make run` starts it: a subprocess in a session of
    its own, its output in a log file, ready once the log shows `ready_marker`."""

    ready_marker = b""
    what = "the service"

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self):
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.argv(),
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(
            lambda: (
                self.ready_marker in self.log_path.read_bytes() or self.process.poll() is not None
            ),
            timeout=60,
            message=f"{self.what} to be ready",
        )
        assert self.process.poll() is None, self.output()
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM (its own graceful shutdown), then SIGKILL for the whole group."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class WorkerProcess(ServiceProcess):
    """`celery -A worker worker` as a subprocess, consuming every queue."""

    ready_marker = b"ready."
    what = "the worker"

    def __init__(
        self, env: dict[str, str], log_path: Path, concurrency: int = 2, include: str = ""
    ):
        super().__init__(env, log_path)
        self.name = f"e2e-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self.concurrency = concurrency
        self.include = include  # modules of test-only tasks, comma-separated

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "worker", "worker",
            "-n", self.name,
            "-Q", "default,emails,inventory,analytics",
            "--concurrency", str(self.concurrency),
            "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
            *(["--include", self.include] if self.include else []),
        ]  # fmt: skip


class RelayProcess(ServiceProcess):
    """`manage.py relay_outbox`, as `make run` and docker-compose run it."""

    ready_marker = b"outbox relay ready."
    what = "the outbox relay"

    def argv(self) -> list[str]:
        return [sys.executable, "manage.py", "relay_outbox"]


@contextlib.contextmanager
def relay_thread():
    """The outbox relay's loop (worker.outbox.relay_forever) in a thread of this process,
    with a database connection of its own, for the block."""
    from worker.outbox import relay_forever

    stop = threading.Event()

    def run():
        try:
            relay_forever(stop=stop)
        finally:
            connection.close()  # this thread's own

    thread = threading.Thread(target=run, name="outbox-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


class WebProcess(ServiceProcess):
    """One web process as `make run` and docker-compose run it (gunicorn, one uvicorn
    worker: the API in its thread pool, streams on the event loop), on a port of its own."""

    ready_marker = b"Application startup complete"
    what = "the web process"

    def __init__(self, env: dict[str, str], log_path: Path):
        super().__init__(env, log_path)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "core.asgi:application",
            "--worker-class", "core.web_worker.WebWorker",
            "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
            "--no-control-socket",
        ]  # fmt: skip


@dataclass
class ServerSentEvent:
    id: str = ""
    event: str = "message"
    data: str = ""
    comment: str = ""

    def json(self):
        return json.loads(self.data)


def session_cookie(process, user, settings) -> str:
    """Log `user` in through `process`'s login page as a browser does (the CSRF cookie,
    then the form); the session id."""
    import http.client
    import re

    # A hash the web process can check (the tests' own hasher is a fast one).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user.set_password("pw-for-the-session-1")
    user.save()
    conn = http.client.HTTPConnection("127.0.0.1", process.port, timeout=10)
    conn.request("GET", "/account/login/")
    page = conn.getresponse()
    csrf_cookie = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie")).group(1)
    csrf_field = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.read()).group(1)
    conn.request(
        "POST",
        "/account/login/",
        body=f"username={user.username}&password=pw-for-the-session-1&"
        f"csrfmiddlewaretoken={csrf_field.decode()}",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
        },
    )
    login = conn.getresponse()
    login.read()
    assert login.status == 302, login.status
    return re.search(r"sessionid=([^;]+)", login.getheader("Set-Cookie")).group(1)


class NotificationSocket:
    """A WebSocket client on a real socket (websockets' synchronous client), sending the
    Origin a page of the site would."""

    def __init__(self, url: str, *, origin: str | None = "", headers=None):
        """`origin`: "" for the site's own (as its pages send), None for none (no browser)."""
        from urllib.parse import urlsplit

        from websockets.sync.client import connect

        parts = urlsplit(url)
        if origin == "":
            origin = f"http://{parts.hostname}:{parts.port}"
        self.socket = connect(
            url, origin=origin, additional_headers=headers, open_timeout=10
        ).__enter__()

    def next_frame(self, timeout: float = 10) -> dict:
        """The next frame, decoded; AssertionError when none comes within `timeout`."""
        try:
            return json.loads(self.socket.recv(timeout=timeout))
        except TimeoutError:
            raise AssertionError(f"no frame within {timeout} s") from None

    def send(self, payload) -> None:
        self.socket.send(payload if isinstance(payload, str) else json.dumps(payload))

    def close_code(self, timeout: float = 10) -> int:
        """The code the server closed the socket with (frames before it are skipped)."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.socket.recv(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else closed.code
        except TimeoutError:
            pass
        raise AssertionError(f"the socket is still open after {timeout} s")

    def close(self) -> None:
        self.socket.close()


class EventStream:
    """A Server-Sent Events client on a real socket: a thread reads the stream and queues
    each event (and each comment) as it arrives."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.connection.request(
            "GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {}
        )
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "")
        self.events: queue.Queue[ServerSentEvent] = queue.Queue()
        self.closed = False
        self.ended = threading.Event()  # the server ended the response
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self.response.read()

    def _read(self) -> None:
        current = ServerSentEvent()
        try:
            while not self.closed:
                raw = self.response.fp.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\n")
                if line == "":
                    if current.data or current.id:
                        self.events.put(current)
                    current = ServerSentEvent()
                elif line.startswith(":"):
                    self.events.put(ServerSentEvent(comment=line[1:].strip()))
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "data":
                        current.data += value
                    elif name in ("id", "event"):
                        setattr(current, name, value)
        except (OSError, ValueError):
            pass
        finally:
            self.ended.set()

    def next_event(self, timeout: float = 10.0, *, comments: bool = False) -> ServerSentEvent:
        """The next event (skipping comments unless asked); AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self.events.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise AssertionError(f"no event within {timeout} s") from None
            if comments or not event.comment:
                return event

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.response.close()
        with contextlib.suppress(Exception):
            self.connection.sock and self.connection.sock.shutdown(2)
        self.connection.close()


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(value: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class BrowserKeys:
    """What a browser's PushManager.subscribe makes: a P-256 key pair and an auth secret."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        self.private_key = ec.generate_private_key(ec.SECP256R1())
        point = self.private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        self.p256dh = b64url(point)
        self.auth_secret = os.urandom(16)
        self.auth = b64url(self.auth_secret)

    def subscription(self, endpoint: str) -> dict:
        return {"endpoint": endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def vapid_key_pair() -> tuple[str, str]:
    """(private, public): a server's VAPID keys as settings hold them."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return b64url(private), b64url(public)


@dataclass
class PushRequest:
    path: str
    headers: dict
    payload: dict | None  # decrypted, when the browser keys could decrypt it
    vapid_claims: dict | None  # verified


class PushService:
    """A push service of the tests' own, on loopback (aiohttp, in a thread): it checks each
    request's VAPID JWT (ES256, against the key the request names and the key the server
    is expected to have), decrypts its aes128gcm body with the browser's private key, and
    answers what the test queued (201 when nothing is)."""

    def __init__(self, browser: BrowserKeys, vapid_public_key: str):
        self.browser = browser
        self.vapid_public_key = vapid_public_key
        self.port = free_port()
        self.requests: list[PushRequest] = []
        self.answers: list[tuple[int, dict]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner = None

    def endpoint(self, name: str = "device-1") -> str:
        return f"http://127.0.0.1:{self.port}/push/{name}"

    def answer(self, status: int, **headers) -> None:
        self.answers.append((status, headers))

    def __enter__(self):
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/push/{name}", self._handle)
        self.runner = web.AppRunner(app)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self):
        from aiohttp import web

        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _handle(self, request):
        from aiohttp import web

        body = await request.read()
        claims = self._verified_claims(request.headers.get("Authorization", ""))
        payload = None
        if claims is not None:
            import http_ece

            try:
                payload = json.loads(
                    http_ece.decrypt(
                        body,
                        private_key=self.browser.private_key,
                        auth_secret=self.browser.auth_secret,
                        version="aes128gcm",
                    )
                )
            except Exception:
                payload = None
        self.requests.append(PushRequest(request.path, dict(request.headers), payload, claims))
        if claims is None:
            return web.Response(status=401, text="bad VAPID")
        if payload is None:
            return web.Response(status=400, text="cannot decrypt")
        status, headers = self.answers.pop(0) if self.answers else (201, {})
        return web.Response(status=status, headers=headers)

    def _verified_claims(self, authorization: str) -> dict | None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        scheme, _, params = authorization.partition(" ")
        fields = dict(part.split("=", 1) for part in params.split(",") if "=" in part)
        if scheme != "vapid" or fields.get("k") != self.vapid_public_key:
            return None
        try:
            header, claims, signature = fields["t"].split(".")
            key = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), b64url_decode(fields["k"])
            )
            raw = b64url_decode(signature)
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
            decoded = json.loads(b64url_decode(claims))
        except (KeyError, ValueError, InvalidSignature):
            return None
        origin = f"http://127.0.0.1:{self.port}"
        if decoded.get("aud") != origin or decoded.get("exp", 0) < time.time():
            return None
        return decoded


def notify(user, message: str, kind: str = "message"):
    """One notification for `user`, committed (as a receiver writes it, then pushed)."""
    from django.db import transaction

    from notifications import services

    with transaction.atomic():
        (row,) = services.notifications_create(recipient_ids=[user.pk], kind=kind, message=message)
    return row
