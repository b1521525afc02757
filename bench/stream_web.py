"""The processes bench/streams.py measures: web processes as `make run` starts them, a
Redis of the run's own, and what one web worker holds (memory, threads, descriptors,
database connections, CPU)."""

import contextlib
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from common import ROOT, WORK

from devstack.services import service_argv, service_env
from devstack.stack import Guard, free_port, throwaway_redis_argv, wait_for_redis

HEARTBEAT_SECONDS = 15  # the default; also the idle window: one heartbeat per stream


def raise_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard one; the web processes inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def web_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "CELERY_BROKER_URL": redis_url,
        "CHANNEL_LAYER_URL": redis_url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SHOPFLOW_SITE_URL": "http://127.0.0.1:8000",
        "SHOPFLOW_STREAM_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }
    # What `make run` adds for its services: no HTTPS redirect on plain HTTP, DEBUG off.
    return {**env, **service_env(env, WORK)}


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: migrate failed:\n{(done.stdout + done.stderr)[-3000:]}")


class Web:
    """The web service as `make run` starts it, with `workers` uvicorn workers, in a
    session of its own so that stopping it reaches its workers too."""

    def __init__(self, env: dict[str, str], workers: int, label: str, guard: Guard):
        self.workers_wanted = workers
        self.guard = guard
        self.port = free_port()
        argv = service_argv(
            python=sys.executable,
            port=self.port,
            flower_port=0,
            env={**env, "WEB_CONCURRENCY": str(workers)},
        )["web"]
        WORK.mkdir(parents=True, exist_ok=True)
        self.log_path = WORK / f"streams-web-{label}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Should this process be killed outright, the guard stops the web service.
        guard.watch(self.process.pid)

    def workers(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return psutil.Process(self.process.pid).children()
        return []

    def wait_ready(self, timeout: float = 60) -> list[psutil.Process]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: gunicorn exited:\n{self.log_path.read_text()[-3000:]}")
            booted = self.log_path.read_text(errors="replace").count("Application startup")
            workers = self.workers()
            if len(workers) == self.workers_wanted and booted >= self.workers_wanted:
                with contextlib.suppress(OSError):
                    url = f"http://127.0.0.1:{self.port}/healthz"
                    with urllib.request.urlopen(url, timeout=5) as answer:
                        if answer.status == 200:
                            return workers
            time.sleep(0.3)
        raise SystemExit(f"bench: the web process did not come up; see {self.log_path}")

    def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
            # Whatever is left in the group: the master if it hung, workers it left behind.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.guard.forget(self.process.pid)
        self.log.close()


class PrivateRedis:
    """A redis-server of the run's own, in a session the guard watches: the restart part
    stops and starts it, and nothing else of the machine may be in the way."""

    def __init__(self, guard: Guard):
        self.guard = guard
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            throwaway_redis_argv(self.port, str(WORK)),
            cwd=WORK,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.guard.watch(self.process.pid)
        if not wait_for_redis(self.url, timeout=15):
            self.stop()
            raise SystemExit("bench: could not start a redis-server")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
        self.guard.forget(self.process.pid)


def sample(process: psutil.Process, database_url: str) -> dict:
    """What one web worker holds: memory, threads, descriptors, database connections."""
    with process.oneshot():
        rss = process.memory_info().rss
        threads = process.num_threads()
        fds = process.num_fds()
    db = 0
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        fd_dir = Path(f"/proc/{process.pid}/fd")
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == path:  # the database file; -wal and -shm come with it
                    db += 1
    else:
        port = urlsplit(database_url).port or 5432
        db = sum(1 for c in process.net_connections("tcp") if c.raddr and c.raddr.port == port)
    return {"rss_mb": round(rss / 2**20, 1), "threads": threads, "fds": fds, "db_conns": db}


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def py_spy_summary(pid: int, label: str) -> dict | None:
    """py-spy dump of the worker: how many threads, and what they do (by name)."""
    py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if not py_spy:
        return None
    dump = subprocess.run(
        [py_spy, "dump", "--pid", str(pid), "--nonblocking"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    path = WORK / f"streams-py-spy-{label}.txt"
    path.write_text(dump.stdout + dump.stderr)
    lines = dump.stdout.splitlines()
    kinds: Counter = Counter()
    for n, line in enumerate(lines):
        if line.startswith("Thread "):
            name = line.split('"')[1] if '"' in line else "?"
            top = lines[n + 1].strip() if n + 1 < len(lines) else ""
            # "ThreadPoolExecutor-123_0" and its like, counted as one kind.
            kinds[f"{name.rstrip('0123456789_-')} @ {top.split(' (')[0]}"] += 1
    return {"file": str(path), "threads": sum(kinds.values()), "by_kind": dict(kinds.most_common())}
