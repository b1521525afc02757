"""The stacks under test, each on a fresh PostgreSQL database, a Redis server of its own
and the SMTP sink: Shopflow as `make run` starts it (`manage.py runstack`), and the naive
design (bench/naive: gunicorn, a Celery worker with task events, Flower)."""

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench"
NAIVE = ROOT / "bench" / "naive"
sys.path.insert(0, str(ROOT))

from devstack.stack import EmbeddedRedis, free_port, wait_for_redis  # noqa: E402

OPS = "bench:bench-flower-secret"  # /metrics takes the ops credentials: Flower's pair
# An order's side effects: their jobs' kinds (side_effects.registry).
SIDE_EFFECT_KINDS = ("inventory", "analytics", "confirmation_email")


def say(line: str) -> None:
    print(line, flush=True)


def fresh_database(server: str, name: str) -> str:
    """A new, empty database `name` on the PostgreSQL server of `server` (a URL)."""
    parts = urlsplit(server)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def fresh_dir(name: str) -> Path:
    path = WORK / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def stop(process: subprocess.Popen, timeout: float = 60) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def http_status(url: str, auth: str = "") -> int:
    """The status of GET `url`, 0 when nothing answers."""
    request = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


class Sink:
    """bench/smtp_sink.py in a process of its own, told how long each message takes."""

    def __init__(self):
        self.port = free_port()
        sink = ROOT / "bench" / "smtp_sink.py"
        self.process = subprocess.Popen(
            [sys.executable, str(sink), "--port", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout.readline().strip() == "ready", "the SMTP sink did not start"

    def delay(self, ms: int) -> None:
        self.process.stdin.write(f"delay {ms}\n")
        self.process.stdin.flush()
        self.process.stdout.readline()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        stop(self.process, 10)


class Stack:
    """What both designs share: a database, a Redis, a log, processes to stop."""

    name = ""

    def __init__(self, server: str, prefix: str):
        self.database = f"{prefix}_{self.name}"
        self.url = fresh_database(server, self.database)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.broker = f"redis://127.0.0.1:{free_port()}/0"
        self.log = open(WORK / f"{self.name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.processes: list[subprocess.Popen] = []
        self.tokens: list[str] = []
        self.products: list[int] = []

    def spawn(self, argv, *, cwd=ROOT, nice=0, **env) -> subprocess.Popen:
        """A process in a session of its own, as runstack starts each service: with
        autogroup scheduling a session is one group against the machine's other work,
        and `nice` is that group's weight (devstack.stack.Stack.start)."""
        environ = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        process = subprocess.Popen(
            argv, cwd=cwd, env=environ, stdout=self.log, stderr=self.log, start_new_session=True
        )
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, process.pid, nice)
            Path(f"/proc/{process.pid}/autogroup").write_text(str(nice))
        self.processes.append(process)
        return process

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.broker)

    def queued(self) -> int:
        """Messages waiting in the broker: the lists of its Redis are its queues."""
        client = self.redis()
        return sum(client.llen(key) for key in client.scan_iter(_type="list"))

    def wait_http(self, url: str, timeout: float = 180, auth: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dead := [p for p in self.processes if p.poll() is not None]:
                raise SystemExit(f"bench: {dead[0].args} exited; see {self.log.name}")
            if http_status(url, auth) in range(200, 500):
                return
            time.sleep(1)
        raise SystemExit(f"bench: {self.name} did not come up; see {self.log.name}")

    def roots(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop(process)
        self.log.close()


class Shopflow(Stack):
    name = "shopflow"

    def __init__(self, server: str, prefix: str, sink: Sink, env: dict[str, str]):
        super().__init__(server, prefix)
        self.auth = "Basic " + base64.b64encode(OPS.encode()).decode()
        self.sink, self.env = sink, env

    def launch(self) -> None:
        # runstack starts its own Redis (make run's embedded one) when none answers there.
        sink, env = self.sink, self.env
        self.spawn(
            [sys.executable, "manage.py", "runstack"],
            DATABASE_URL=self.url,
            CELERY_BROKER_URL=self.broker,
            SHOPFLOW_VAR_DIR=str(fresh_dir("var-shopflow")),
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(sink.port),
            PORT=str(self.port),
            FLOWER_PORT=str(free_port()),
            FLOWER_BASIC_AUTH=OPS,
            SHOPFLOW_ADMIN_PASSWORD="bench-admin-secret",
            DJANGO_DEBUG="1",  # as `make run`: its own setup's; the services run without
            # Eight shoppers placing the same order all run would each be flagged a
            # duplicate and alerted on; the check still runs on every checkout.
            SHOPFLOW_DUPLICATE_WINDOW_MINUTES="0",
            **env,
        )

    def start(self) -> None:
        self.wait_http(f"{self.base}/metrics", auth=self.auth)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("UPDATE store_product SET on_hand = 100000000, low_stock_threshold = 0")
            rows = conn.execute("SELECT id FROM store_product WHERE is_active").fetchall()
        self.products = [row[0] for row in rows]

    def mark(self) -> tuple[float, dict, float]:
        """(time, {kind: {bound s: cumulative count}}, side effects pending) of /metrics."""
        from tests.support.metrics import Metrics

        request = urllib.request.Request(
            f"{self.base}/metrics", headers={"Authorization": self.auth}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            samples = Metrics(answer.read().decode()).samples
        buckets: dict[str, dict[float, float]] = {}
        for s in samples:
            if s.name == "shopflow_side_effect_lag_seconds_bucket":
                buckets.setdefault(s.labels["kind"], {})[float(s.labels["le"])] = s.value
        pending = sum(
            s.value
            for s in samples
            if s.name == "shopflow_jobs_pending" and s.labels.get("kind") in SIDE_EFFECT_KINDS
        )
        return time.time(), buckets, pending

    def pending(self, since) -> int:
        return int(self.mark()[2])

    def lag(self, since, until) -> dict[str, list[float]]:
        """{kind: lags ms} of the side effects done since the mark `since` (/metrics)."""
        from figures import lag_by_kind

        return lag_by_kind(since[1], self.mark()[1])


class Naive(Stack):
    name = "naive"

    def __init__(self, server: str, prefix: str, sink: Sink):
        super().__init__(server, prefix)
        self.env = {"DATABASE_URL": self.url, "CELERY_BROKER_URL": self.broker}
        self.env |= {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(sink.port)}

    def launch(self) -> None:
        # The same Redis as make run's: append-only, nothing evicted.
        server = EmbeddedRedis(data_dir=fresh_dir("redis-naive"), port=urlsplit(self.broker).port)
        self.spawn(server.argv())
        wait_for_redis(self.broker, timeout=15)
        manage = [sys.executable, "manage.py"]
        subprocess.run(
            [*manage, "migrate", "-v0"], cwd=NAIVE, env={**os.environ, **self.env}, check=True
        )
        seeded = subprocess.run(
            [*manage, "seed"],
            cwd=NAIVE,
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
        )
        found = json.loads(seeded.stdout)
        self.tokens, self.products = found["tokens"], found["products"]
        self.web(self.port)
        celery = [sys.executable, "-m", "celery", "-A", "naiveshop"]
        # Celery's defaults as its docs run them: the prefork pool, a process a core.
        # Yielding the CPU as far as the Shopflow services that do the same job: its
        # mail worker (it sends the emails) and Flower (devstack.services.service_nice).
        worker = [*celery, "worker", "-E", "--loglevel", "INFO"]
        self.spawn(worker, cwd=NAIVE, nice=5, **self.env)
        flower = [*celery, "flower", "--address=127.0.0.1", f"--port={free_port()}"]
        self.spawn(flower, cwd=NAIVE, nice=10, **self.env)

    def web(self, port: int, **env) -> subprocess.Popen:
        """gunicorn's threads, as many processes and threads as Shopflow's web has."""
        argv = [sys.executable, "-m", "gunicorn", "naiveshop.wsgi", "--bind", f"127.0.0.1:{port}"]
        argv += ["--workers", "2", "--threads", "4", "--no-control-socket"]
        return self.spawn(argv, cwd=NAIVE, **self.env, **env)

    def start(self) -> None:
        self.wait_http(f"{self.base}/api/orders/")

    def synchronous(self) -> tuple[str, subprocess.Popen]:
        """The synchronous design: the same web with CELERY_TASK_ALWAYS_EAGER=1, whose
        checkout does its three tasks before it answers. (base URL, its process)."""
        port = free_port()
        process = self.web(port, CELERY_TASK_ALWAYS_EAGER="1")
        self.wait_http(f"http://127.0.0.1:{port}/api/orders/")
        return f"http://127.0.0.1:{port}", process

    def mark(self) -> datetime:
        return datetime.now(UTC)

    def _query(self, select: str, since: datetime, until: datetime | None = None):
        query = f"""
            SELECT {select}
            FROM naiveshop_order o LEFT JOIN naiveshop_analyticsevent e ON e.order_id = o.id
            WHERE o.created_at >= %s AND o.created_at < %s"""
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query, (since, until or datetime.now(UTC))).fetchall()

    def pending(self, since: datetime) -> int:
        """Side effects not done of the orders placed since `since`."""
        done = "(o.email_sent_at IS NULL)::int + (o.stock_updated_at IS NULL)::int"
        return int(self._query(f"COALESCE(SUM({done} + (e.id IS NULL)::int), 0)", since)[0][0])

    def lag(self, since: datetime, until: datetime | None = None) -> dict[str, list[float]]:
        """{kind: lags ms} of the orders placed since `since`; one not done yet counts
        until now (a lower bound)."""
        columns = ("o.email_sent_at", "o.stock_updated_at", "e.created_at")
        lags = [f"EXTRACT(EPOCH FROM COALESCE({c}, now()) - o.created_at) * 1000" for c in columns]
        rows = self._query(", ".join(lags), since, until)
        kinds = ("confirmation_email", "inventory", "analytics")
        return {kind: [float(row[i]) for row in rows] for i, kind in enumerate(kinds)}

    def purge(self) -> None:
        """Drop what is still queued: a backlog the next phase must not inherit."""
        self.redis().delete("celery")
