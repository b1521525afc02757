"""The stack under test, one per variant: its database, its Redis, its SMTP server, and
`manage.py runstack` as `make run` starts it."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from common import ROOT, WORK

from devstack.stack import free_port, redis_answers, throwaway_redis_argv, wait_for_redis

QUEUES = ("emails", "inventory", "analytics", "default")
# /metrics takes the ops credentials: the Flower pair the stack is given.
OPS_CREDENTIALS = "bench:bench-flower-secret"


class Database:
    """The stack's database, for its set-up: stock to spare, the products to buy."""

    def __init__(self, url: str):
        if url.startswith("sqlite"):
            import sqlite3

            self.conn = sqlite3.connect(urlsplit(url).path.removeprefix("/"), timeout=30)
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)

    def prepare(self) -> list[int]:
        """Plenty of stock (the benchmark measures checkouts, not sell-outs); the ids of
        the products for sale."""
        cursor = self.conn.cursor()
        cursor.execute("UPDATE store_product SET on_hand = 100000000, low_stock_threshold = 0")
        self.conn.commit()
        cursor.execute("SELECT id FROM store_product WHERE is_active")
        products = [row[0] for row in cursor.fetchall()]
        cursor.close()
        return products

    def close(self):
        self.conn.close()


def fresh_database(database_url: str, variant: str) -> str:
    """A new, empty database for one variant: same server as DATABASE_URL, or SQLite."""
    if not database_url.startswith("postgres"):
        WORK.mkdir(parents=True, exist_ok=True)
        path = WORK / f"{variant}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    parts = urlsplit(database_url)
    # Another run on the same server takes another prefix: each drops its own databases.
    name = f"{os.environ.get('BENCH_DATABASE_PREFIX', 'shopflow_bench')}_{variant}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


class Sink:
    """bench/smtp_sink.py in its own process."""

    def __init__(self):
        WORK.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = WORK / f"smtp-{self.port}.log"
        self.log.write_text("")
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "smtp_sink.py"),
                "--port",
                str(self.port),
                "--log",
                str(self.log),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready", "the SMTP sink did not start"

    def delay(self, ms: int) -> None:
        self.process.stdin.write(f"delay {ms}\n")
        self.process.stdin.flush()
        self.process.stdout.readline()

    def received(self) -> list[tuple[float, int]]:
        lines = self.log.read_text().split("\n")
        return [(float(t), int(c)) for t, c in (ln.split() for ln in lines if ln.strip())]

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Broker:
    """The machine's Redis (a database of its own, emptied), or one started for the run."""

    def __init__(self, url: str):
        self.process = None
        if redis_answers(url):
            self.url = url
            redis.Redis.from_url(url).flushdb()
        else:
            port = free_port()
            data = WORK / "redis"
            data.mkdir(parents=True, exist_ok=True)
            self.process = subprocess.Popen(
                throwaway_redis_argv(port, str(data)),
                stdout=subprocess.DEVNULL,
            )
            self.url = f"redis://127.0.0.1:{port}/0"
            if not wait_for_redis(self.url, timeout=15):
                raise SystemExit("bench: could not start a redis-server")
        self.port = urlsplit(self.url).port or 6379
        self.client = redis.Redis.from_url(self.url)

    def queued(self) -> int:
        return sum(self.client.llen(queue) for queue in QUEUES)

    def flush(self) -> None:
        self.client.flushdb()

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait()


class ManagedStack:
    """`manage.py runstack`, as `make run` starts it, for one variant."""

    def __init__(self, *, variant, database_url, broker, sink, extra_env):
        self.variant = variant
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = WORK / f"stack-{variant}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker.url,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(sink.port),
            "PORT": str(self.port),
            "FLOWER_PORT": str(free_port()),
            "FLOWER_BASIC_AUTH": OPS_CREDENTIALS,
            "SHOPFLOW_ADMIN_PASSWORD": "bench-admin-secret",
            "PYTHONUNBUFFERED": "1",
            # As `make run` starts it: its own setup with development settings; the
            # services run with DEBUG off (devstack.services.service_env).
            "DJANGO_DEBUG": "1",
            # Eight shoppers placing the same order thousands of times a minute would each
            # be flagged a duplicate (named in the window's staff alert): a shop's rare
            # case. The check still runs on every checkout; none matches.
            "SHOPFLOW_DUPLICATE_WINDOW_MINUTES": "0",
            **extra_env,
        }
        if variant == "sync":
            env["CELERY_TASK_ALWAYS_EAGER"] = "1"
        if variant == "async-noevents":
            env["CELERY_WORKER_SEND_TASK_EVENTS"] = "0"
        self.env = env
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: runstack exited:\n{self.log_path.read_text()[-3000:]}")
            text = self.log_path.read_text(errors="replace")
            if "Shopflow is running" in text and text.count(" ready.") >= 2:
                with contextlib.suppress(OSError):
                    import urllib.request

                    with urllib.request.urlopen(f"{self.base}/healthz", timeout=5) as answer:
                        if answer.status == 200:
                            return
            time.sleep(0.5)
        raise SystemExit(f"bench: the stack did not come up; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
