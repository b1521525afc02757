"""The project's own processes as `make run` starts them (worker, dispatcher, web), on
this test's database, and the dispatcher's loop in a thread."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.db import connection

# The runner's own helpers: tests start Redis the way `make run` does.
from devstack.stack import free_port, options_argv
from tests.support import PROJECT_DIR
from tests.support.polling import wait_until


def database_url() -> str:
    """A URL for the database this test runs against, for worker subprocesses."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf["PASSWORD"] else "")
    return f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


def python_run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python *args` (a module's `-m`, a `-c` script) in the project's directory with
    exactly `env`, its output captured as text: a probe or a check, as an orchestrator or
    an operator runs it."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def subprocess_env(**overrides) -> dict[str, str]:
    """This test's database for a subprocess, with the settings its entry point chooses
    (core.env.settings_module: local's, by DJANGO_DEBUG=1, which config/settings/test.py set)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the suite's: entry points choose by DJANGO_DEBUG
    env.update({key: str(value) for key, value in overrides.items()})
    return env


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

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a lost host ends it: no shutdown, no last sync."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (its own graceful shutdown), then SIGKILL for the whole group after
        `timeout` seconds."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class WorkerProcess(ServiceProcess):
    """`celery -A worker worker` as a subprocess, consuming every queue (or `queues`)."""

    ready_marker = b"ready."
    what = "the worker"

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        concurrency: int = 2,
        include: str = "",
        queues: str = "default,emails,inventory,analytics",
        pool: str = "",
    ):
        super().__init__(env, log_path)
        self.name = f"e2e-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self.concurrency = concurrency
        self.include = include  # modules of test-only tasks, comma-separated
        self.queues = queues  # comma-separated
        self.pool = pool  # Celery's default (prefork) unless named

    def argv(self) -> list[str]:
        celery = [sys.executable, "-m", "celery", "-A", "worker", "worker"]
        return [
            *celery,
            *options_argv(
                ("-n", self.name),
                ("-Q", self.queues),
                ("--concurrency", str(self.concurrency)),
                ("--loglevel", "INFO"),
                *([("--pool", self.pool)] if self.pool else []),
            ),
            "--without-gossip",
            "--without-mingle",
            *(["--include", self.include] if self.include else []),
        ]


class DispatcherProcess(ServiceProcess):
    """`manage.py dispatch`, as `make run` and docker-compose run it."""

    ready_marker = b"dispatcher ready."
    what = "the dispatcher"

    def argv(self) -> list[str]:
        return [sys.executable, "manage.py", "dispatch"]


@contextlib.contextmanager
def dispatcher_thread():
    """The dispatcher's loop (worker.dispatcher.dispatch_forever) in a thread of this
    process, with a database connection of its own, for the block."""
    from worker.dispatcher import dispatch_forever

    stop = threading.Event()

    def run():
        try:
            dispatch_forever(stop=stop)
        finally:
            connection.close()  # this thread's own

    thread = threading.Thread(target=run, name="dispatcher", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


class BeatProcess(ServiceProcess):
    """`celery -A worker beat` with the project's scheduler, as `make run` starts it; its
    schedule in the database (no file, no pidfile: several may run side by side)."""

    ready_marker = b"Scheduler: "  # worker.beat: it sends, or it stands by
    what = "beat"

    def __init__(self, env: dict[str, str], log_path: Path):
        # Each send logged (tests.support.beat reads when each beat sent what).
        super().__init__({**env, "CELERY_BEAT_LOG_LEVEL": "INFO"}, log_path)

    def argv(self) -> list[str]:
        celery = [sys.executable, "-m", "celery", "-A", "worker", "beat"]
        return [
            *celery,
            *options_argv(("--loglevel", "INFO"), ("--scheduler", "worker.beat:Scheduler")),
            "--pidfile=",
        ]


class WebProcess(ServiceProcess):
    """One web process as `make run` and docker-compose run it (gunicorn, one uvicorn
    worker: the API in its thread pool, streams on the event loop), on a port of its own,
    or on `port` (another process's, which it replaces after a crash)."""

    ready_marker = b"Application startup complete"
    what = "the web process"

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None):
        super().__init__(env, log_path)
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        gunicorn = [sys.executable, "-m", "gunicorn", "config.asgi:application"]
        return [
            *gunicorn,
            *options_argv(
                ("--worker-class", "config.web_worker.WebWorker"),
                ("--bind", f"127.0.0.1:{self.port}"),
                ("--workers", "1"),
            ),
            "--no-control-socket",
        ]


class FlowerProcess(ServiceProcess):
    """Flower as make run, docker-compose and kubernetes/ start it, on a port of its own;
    its credentials and options come in `env` (FLOWER_BASIC_AUTH, ...)."""

    ready_marker = b"Visit me at"
    what = "Flower"

    def __init__(self, env: dict[str, str], log_path: Path):
        super().__init__({**env, "FLOWER_PORT": str(free_port())}, log_path)
        self.base = f"http://127.0.0.1:{self.env['FLOWER_PORT']}"

    def argv(self) -> list[str]:
        celery = [sys.executable, "-m", "celery", "-A", "worker", "flower"]
        return [*celery, "--address=127.0.0.1", "--conf=worker/flowerconfig.py"]


def worker_env(redis_server, smtp_server, **overrides) -> dict[str, str]:
    """A worker subprocess's environment: this test's database, broker and SMTP server,
    and one-second retry backoff, unless `overrides` say otherwise."""
    defaults = {
        "CELERY_BROKER_URL": redis_server.url,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": smtp_server.port,
        "SHOPFLOW_TASK_RETRY_BACKOFF": 1,
    }
    return subprocess_env(**{**defaults, **overrides})


def celery_control(env: dict[str, str], *command: str) -> str:
    """`celery -A worker control ...` as an operator runs it; its output (the replies)."""
    result = python_run(
        "-m", "celery", "-A", "worker", "control", *command, "--timeout", "5", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
