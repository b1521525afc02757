"""Real servers for tests: a Redis server the test owns, an SMTP server, polling."""

import asyncio
import contextlib
import email
import json
import os
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
from django.db import connection

# The runner's own helpers: tests start Redis the way `make run` does.
from core.stack import free_port, redis_server_binary, wait_for_redis


def wait_until(predicate, *, timeout: float = 20.0, interval: float = 0.1, message: str = ""):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


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


@dataclass
class SmtpHandler:
    """Accepts mail, or refuses DATA with a temporary (451) or permanent (554) error."""

    messages: list[Message] = field(default_factory=list)
    attempts: int = 0
    refuse_next: int = 0  # refuse this many deliveries temporarily, then accept
    refuse_always: bool = False
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
            if self.refuse_always:
                return "554 5.7.1 Message rejected"
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
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1"}
    env.update({key: str(value) for key, value in overrides.items()})
    return env


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
        app.conf.broker_url = to
        # Celery reads CELERY_BROKER_URL from the environment before its own config.
        os.environ["CELERY_BROKER_URL"] = to

    switch(url)
    try:
        yield
    finally:
        switch(previous)


def queued_task_ids(broker: str, queue: str) -> list[str]:
    """Task ids of the messages waiting in a Redis-backed Celery queue."""
    client = redis.Redis.from_url(broker)
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]


PROJECT_DIR = Path(__file__).resolve().parent.parent


class WorkerProcess:
    """`celery -A worker worker` as a subprocess, consuming every queue."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 2):
        self.name = f"e2e-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker",
                "worker",
                "-n",
                self.name,
                "-Q",
                "default,emails,inventory,analytics",
                "--concurrency",
                str(self.concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(
            lambda: b"ready." in self.log_path.read_bytes() or self._died(),
            timeout=60,
            message="the worker to be ready",
        )
        assert self.process.poll() is None, self.output()
        return self

    def _died(self) -> bool:
        return self.process.poll() is not None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
