"""Load benchmark of the running stack over HTTP: Shopflow as built, against the same code
with the side effects done inside the request (Celery's eager mode), in one run.

    make bench                          # both variants, every phase (about 35 minutes)
    make bench BENCH_ARGS="--workers 2 --phases closed,burst30"   # scaled out
    .venv/bin/python bench/load.py --quick
    .venv/bin/python bench/load.py --base-url http://127.0.0.1:8000   # a stack you started

It starts a stack per variant as `make run` does (`manage.py runstack`), both at once,
each on a fresh database (PostgreSQL when DATABASE_URL points at one, else SQLite), a
Redis database of its own on the machine's Redis (an embedded one when none answers) and
an SMTP server of its own (bench/smtp_sink.py) that can be told to take N ms per message.
Then, over HTTP with keep-alive connections, phase by phase, each variant in turn:

  rest     one client, one flow at a time: checkout and GET /api/orders/{id}/ at rest
  closed   N clients in a closed loop, each registered once: cart, item, checkout (twice:
           with an SMTP server that answers at once, and one taking 200 ms a message);
           in rounds that take turns (async, sync, sync, async, ...), so the ratio is
           measured seconds apart and a slow spell of this shared machine hits both
  open     a fixed arrival rate for a fixed time (several phases, one with a slow SMTP)
  burst    a flash sale: the closed loop for 20 s, then at once a steady rate for 40 s;
           the largest side-effect lag, and the time after the burst until side effects
           are back under 1 s p99 ("recovery"), drawn over time (bench/bursts.py)
  search   the highest steady rate at which checkout p99 <= 100 ms, side effects p99
           <= 1 s and no queue grows (for the synchronous design, the checkout alone):
           20 s probes, up by a step while it holds, then once halfway back

A third variant, async-noevents, takes turns in the closed loop only: Shopflow with
CELERY_WORKER_SEND_TASK_EVENTS=0, for the cost of task events (on by default).

Side effects are timed from the 201 to the last of the order's three side effects marked
done, read from the database's own timestamps (OrderSideEffect.updated_at), so nothing
polls the web tier. CPU seconds are read per process kind (web, worker, beat, flower,
PostgreSQL, Redis, SMTP sink, this client) with psutil. SQL statements per checkout
come from bench/sql_per_checkout.py (in-process, after-commit publish included).

It prints a table with the async/sync ratio, writes the raw numbers to
bench/results/load.json and draws bench/results/load.png.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bursts  # noqa: E402

from devstack.stack import free_port, redis_answers, redis_server_binary, wait_for_redis  # noqa: E402

RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench"
PASSWORD = "bench-Pa55word-long-enough"
QUEUES = ("emails", "inventory", "analytics", "default")


# --- Phases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    name: str
    kind: str  # rest | closed | open
    seconds: float = 0.0
    clients: int = 0
    rate: float = 0.0
    flows: int = 0
    smtp_delay_ms: int = 0
    then_rate: float = 0.0  # burst: the steady rate after the closed loop
    then_seconds: float = 0.0
    step: float = 0.0  # search: the rate goes up by this

    @property
    def label(self) -> str:
        if self.kind == "rest":
            return "at rest, 1 client"
        smtp = f", SMTP {self.smtp_delay_ms} ms" if self.smtp_delay_ms else ""
        if self.kind == "closed":
            return f"closed loop, {self.clients} clients{smtp}"
        if self.kind == "burst":
            return (
                f"burst: {self.clients} clients for {self.seconds:g}s, then "
                f"{self.then_rate:g}/s for {self.then_seconds:g}s{smtp}"
            )
        if self.kind == "search":
            return f"sustainable-rate search, {self.seconds:g}s probes{smtp}"
        return f"open {self.rate:g}/s for {self.seconds:g}s{smtp}"

    @property
    def total_seconds(self) -> float:
        return self.seconds + self.then_seconds


def phases_for(args) -> list[Phase]:
    scale = 0.25 if args.quick else 1.0

    def s(seconds):
        return max(round(seconds * scale), 5)

    return [
        Phase("rest", "rest", flows=max(int(40 * scale), 10)),
        Phase("closed", "closed", seconds=s(args.closed_seconds), clients=args.clients),
        # The same with an SMTP server that takes its time, as a remote relay does.
        Phase(
            "closed200",
            "closed",
            seconds=s(args.closed_seconds),
            clients=args.clients,
            smtp_delay_ms=200,
        ),
        Phase("open10", "open", seconds=s(30), rate=10),
        Phase("open30", "open", seconds=s(60), rate=30),
        Phase("open50", "open", seconds=s(20), rate=50),
        Phase("smtp200", "open", seconds=s(60), rate=20, smtp_delay_ms=200),
        Phase("burst30", "burst", seconds=s(20), clients=args.clients, then_rate=30,
              then_seconds=s(40)),
        Phase("burst200", "burst", seconds=s(20), clients=args.clients, then_rate=20,
              then_seconds=s(40), smtp_delay_ms=200),
        Phase("search", "search", seconds=s(20), rate=20, step=10),
        Phase("search200", "search", seconds=s(20), rate=20, step=10, smtp_delay_ms=200),
    ]  # fmt: skip


# --- Helpers ------------------------------------------------------------------------------


def pct(values, p: float):
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def say(line: str) -> None:
    print(line, flush=True)


def epoch(value) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    # SQLite stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC.
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()


class Database:
    """Read access to the stack's database, for timestamps and backlog counts."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite"):
            import sqlite3

            self.conn = sqlite3.connect(urlsplit(url).path.removeprefix("/"), timeout=30)
            self.mark = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
            self.mark = "%s"

    def rows(self, sql: str, params=()) -> list[tuple]:
        sql = sql.replace("%s", self.mark)
        cursor = self.conn.cursor()
        cursor.execute(sql, params)
        result = cursor.fetchall()
        cursor.close()
        if self.mark == "?":
            self.conn.commit()
        return result

    def execute(self, sql: str, params=()) -> None:
        sql = sql.replace("%s", self.mark)
        cursor = self.conn.cursor()
        cursor.execute(sql, params)
        cursor.close()
        if self.mark == "?":
            self.conn.commit()

    def side_effects(self, order_ids: list[int]) -> dict[int, tuple[int, float]]:
        """{order id: (side effects done, time the last one was marked)}."""
        found: dict[int, tuple[int, float]] = {}
        for start in range(0, len(order_ids), 500):
            chunk = order_ids[start : start + 500]
            marks = ",".join([self.mark] * len(chunk))
            sql = (
                "SELECT order_id, status, updated_at FROM side_effects_ordersideeffect "
                f"WHERE order_id IN ({marks})"
            )
            cursor = self.conn.cursor()
            cursor.execute(sql, chunk)
            for order_id, status, updated in cursor.fetchall():
                done, last = found.get(order_id, (0, 0.0))
                if status == "done":
                    found[order_id] = (done + 1, max(last, epoch(updated)))
                else:
                    found.setdefault(order_id, (done, last))
            cursor.close()
        return found

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
    name = f"shopflow_bench_{variant}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


# --- CPU per process kind -------------------------------------------------------------------


def classify(process: psutil.Process) -> str | None:
    try:
        name = process.name()
        cmdline = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if name.startswith("postgres") or cmdline.startswith("postgres"):
        return "postgres"
    if "redis-server" in name or "redis-server" in cmdline:
        return "redis"
    if "smtp_sink.py" in cmdline:
        return "smtp"
    if "manage.py runstack" in cmdline:
        return "supervisor"
    if "gunicorn" in cmdline or "uvicorn" in cmdline:
        return "web"
    if "relay_outbox" in cmdline:
        return "relay"
    if "celery" not in cmdline:
        return None
    words = cmdline.split()
    for kind in ("beat", "flower", "worker"):  # "-A worker beat" is beat, not a worker
        if kind in words[words.index("-A") + 2 :] if "-A" in words else kind in words:
            # The email queue's worker (runstack's "mail", compose's too) on its own line.
            return "mail" if kind == "worker" and "-Q emails" in cmdline else kind
    return None


class CpuMeter:
    """CPU seconds per process kind, including children that exited and were reaped."""

    def __init__(self, roots: list[int], redis_port: int | None):
        self.roots = roots  # pids whose descendants are the stack
        self.redis_port = redis_port

    def processes(self) -> dict[str, list[psutil.Process]]:
        kinds: dict[str, list[psutil.Process]] = {}
        seen = set()
        for root in self.roots:
            try:
                family = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for process in family:
                kind = classify(process)
                if kind and process.pid not in seen:
                    seen.add(process.pid)
                    kinds.setdefault(kind, []).append(process)
        for process in psutil.process_iter():
            if process.pid in seen:
                continue
            kind = classify(process)
            ours = kind == "redis" and self._listens(process, self.redis_port)
            if kind == "postgres" or ours:
                kinds.setdefault(kind, []).append(process)
        return kinds

    @staticmethod
    def _listens(process, port) -> bool:
        try:
            return any(c.laddr and c.laddr.port == port for c in process.net_connections("tcp"))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def snapshot(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for kind, processes in self.processes().items():
            for process in processes:
                try:
                    times = process.cpu_times()
                except (psutil.NoSuchProcess, psutil.ZombieProcess):
                    continue
                parent_kind = None
                with contextlib.suppress(psutil.Error):
                    parent = process.parent()
                    parent_kind = classify(parent) if parent else None
                # Reaped children count once, at the top of each kind's tree.
                reaped = times.children_user + times.children_system if parent_kind != kind else 0
                totals[kind] = totals.get(kind, 0.0) + times.user + times.system + reaped
        own = psutil.Process().cpu_times()
        totals["client"] = own.user + own.system
        return totals


# --- The stack under test -------------------------------------------------------------------


class Sink:
    """bench/smtp_sink.py in its own process."""

    def __init__(self):
        WORK.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = WORK / f"smtp-{self.port}.log"
        self.log.write_text("")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), "--port", str(self.port),
             "--log", str(self.log)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
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
                [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(data)],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
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
            "FLOWER_BASIC_AUTH": "bench:bench-flower-secret",
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


# --- Profiling ---------------------------------------------------------------------------


def profile_stack(meter: "CpuMeter", label: str, seconds: float) -> list[Path]:
    """py-spy on every web and worker process (their pools included) for `seconds`, CPU
    samples only (--gil), while the load runs. Writes raw stacks and a summary per
    process tree to var/bench/ and returns the summaries."""
    py_spy = Path(sys.executable).parent / "py-spy"
    roots = []
    for kind in ("web", "worker", "mail"):
        for process in meter.processes().get(kind, []):
            with contextlib.suppress(psutil.Error):
                parent = process.parent()
                if parent is None or classify(parent) != kind:
                    roots.append((kind, process.pid))
    runs = []
    for kind, pid in roots:
        raw = WORK / f"profile-{label}-{kind}-{pid}.txt"
        command = [str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--gil",
                   "--nonblocking", "--rate", "200", "--duration", str(int(seconds)),
                   "--format", "raw", "--output", str(raw)]  # fmt: skip
        runs.append(
            (raw, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        )
    summaries = []
    for raw, process in runs:
        process.wait()
        if raw.exists():
            summary = raw.with_suffix(".summary.txt")
            summary.write_text(summarise_stacks(raw))
            summaries.append(summary)
    return summaries


def summarise_stacks(raw: Path, top: int = 60) -> str:
    """The functions that hold the most CPU samples, inclusive and self."""
    inclusive, own, total = {}, {}, 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        count = int(count)
        total += count
        frames = [
            frame.split(" (")[0] + " (" + frame.rsplit("/", 1)[-1] for frame in stack.split(";")
        ]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    lines = [f"{raw.name}: {total} samples with the GIL", "", "inclusive:"]
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * count / total:6.1f}%  {frame}")
    lines += ["", "self:"]
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[: top // 2]:
        lines.append(f"{100 * count / total:6.1f}%  {frame}")
    return "\n".join(lines) + "\n"


# --- The load client ------------------------------------------------------------------------


@dataclass
class Flow:
    phase: str
    started: float  # time.time() of the first request
    cart_ms: float = 0.0
    item_ms: float = 0.0
    checkout_ms: float = 0.0
    created_at: float = 0.0  # time.time() when the 201 arrived
    order_id: int | None = None
    error: str = ""


@dataclass
class Shopper:
    username: str
    token: str = ""


class LoadClient:
    def __init__(self, base: str, products: list[int]):
        self.base = base
        self.products = products
        self.session: aiohttp.ClientSession | None = None
        self.random = random.Random(7)

    async def __aenter__(self):
        # Idle connections are dropped before uvicorn's 5 s keep-alive timeout would close
        # them under a request (a reset, not a server failure).
        connector = aiohttp.TCPConnector(limit=512, limit_per_host=512, keepalive_timeout=3)
        timeout = aiohttp.ClientTimeout(total=120)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self

    async def __aexit__(self, *exc):
        await self.session.close()

    async def request(self, method, path, token=None, body=None):
        headers = {"Authorization": f"Token {token}"} if token else {}
        started = time.perf_counter()
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as answer:
            data = await answer.read()
            elapsed = (time.perf_counter() - started) * 1000
            return answer.status, data, elapsed

    async def register(self, shopper: Shopper) -> None:
        body = {"username": shopper.username, "email": f"{shopper.username}@bench.example",
                "password": PASSWORD}  # fmt: skip
        status, data, _ = await self.request("POST", "/api/auth/register/", body=body)
        if status != 201:
            raise SystemExit(f"bench: register answered {status}: {data[:300]!r}")
        body = {"username": shopper.username, "password": PASSWORD}
        status, data, _ = await self.request("POST", "/api/auth/token/", body=body)
        if status != 200:
            raise SystemExit(f"bench: token answered {status}: {data[:300]!r}")
        shopper.token = json.loads(data)["token"]

    async def flow(self, shopper: Shopper, phase: str) -> Flow:
        """cart, item, checkout: one order."""
        flow = Flow(phase=phase, started=time.time())
        try:
            status, data, flow.cart_ms = await self.request("POST", "/api/carts/", shopper.token)
            if status != 201:
                flow.error = f"cart {status}"
                return flow
            cart = json.loads(data)["id"]
            item = {"product_id": self.random.choice(self.products), "quantity": 1}
            status, _, flow.item_ms = await self.request(
                "POST", f"/api/carts/{cart}/items/", shopper.token, item
            )
            if status != 201:
                flow.error = f"item {status}"
                return flow
            status, data, flow.checkout_ms = await self.request(
                "POST", "/api/orders/", shopper.token, {"cart_id": cart}
            )
            flow.created_at = time.time()
            if status != 201:
                flow.error = f"checkout {status}"
                return flow
            flow.order_id = json.loads(data)["id"]
        except (TimeoutError, aiohttp.ClientError) as exc:
            flow.error = type(exc).__name__
        return flow


# --- Running the phases ----------------------------------------------------------------------


@dataclass
class PhaseResult:
    phase: Phase
    flows: list[Flow] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    queued_at_end: int = 0
    pending_at_end: int = 0
    drain_seconds: float = 0.0  # until the side effects are done and the queues empty
    effects_drain_seconds: float = 0.0  # until the side effects are done
    backlog: list[tuple[float, int]] = field(default_factory=list)
    delays_ms: list[float] = field(default_factory=list)
    undone: int = 0
    emails: int = 0
    email_rate: float = 0.0
    smtp_connections: int = 0
    get_order_ms: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)  # orders/s of each round, if several
    multiple_rounds: bool = False  # a backlog series of several rounds has no one slope
    # (seconds into the phase the 201 came, side-effect lag ms) of each order
    lags: list[tuple[float, float]] = field(default_factory=list)
    probes: list[bursts.Probe] = field(default_factory=list)  # a search's

    def summary(self) -> dict:
        ok = [f for f in self.flows if f.order_id]
        checkout = [f.checkout_ms for f in ok]
        orders = len(ok)
        per_order = (
            {kind: seconds / orders * 1000 for kind, seconds in self.cpu.items()} if orders else {}
        )
        return {
            "phase": self.phase.name,
            "label": self.phase.label,
            "orders": orders,
            "errors": len(self.flows) - orders,
            "error_kinds": sorted({f.error for f in self.flows if f.error}),
            "seconds": round(self.seconds, 2),
            "orders_per_s": round(orders / self.seconds, 2) if self.seconds else None,
            # Orders whose side effects were all done, per second of the phase and of the
            # wait for them after it: the rate the whole system sustains.
            "orders_done_per_s": (
                round(orders / (self.seconds + self.effects_drain_seconds), 2)
                if self.seconds
                else None
            ),
            "checkout_p50_ms": pct(checkout, 50),
            "checkout_p95_ms": pct(checkout, 95),
            "checkout_p99_ms": pct(checkout, 99),
            "flow_p50_ms": pct([f.cart_ms + f.item_ms + f.checkout_ms for f in ok], 50),
            "get_order_p50_ms": pct(self.get_order_ms, 50),
            "side_effects_p50_ms": pct(self.delays_ms, 50),
            "side_effects_p95_ms": pct(self.delays_ms, 95),
            "side_effects_p99_ms": pct(self.delays_ms, 99),
            "side_effects_not_done": self.undone,
            "queued_at_end": self.queued_at_end,
            "pending_at_end": self.pending_at_end,
            "drain_s": round(self.drain_seconds, 2),
            "effects_drain_s": round(self.effects_drain_seconds, 2),
            "emails": self.emails,
            "emails_per_s": round(self.email_rate, 2),
            "smtp_connections": self.smtp_connections,
            "cpu_ms_per_order": {k: round(v, 2) for k, v in sorted(per_order.items())},
            "backlog_growth_per_s": None if self.multiple_rounds else backlog_slope(self.backlog),
            "rounds_orders_per_s": self.rounds,
            **self.burst_summary(),
            **self.search_summary(),
        }

    def burst_summary(self) -> dict:
        if self.phase.kind != "burst":
            return {}
        started = min((f.started for f in self.flows), default=0.0)
        checkouts = [(f.created_at - started, f.checkout_ms) for f in self.flows if f.order_id]
        return bursts.burst_figures(self.lags, checkouts, burst_end=self.phase.seconds)

    def search_summary(self) -> dict:
        if self.phase.kind != "search":
            return {}
        return {
            "sustainable_rate": bursts.sustainable(self.probes),
            "probes": [{**p.__dict__, "why_not": p.why_not} for p in self.probes],
        }


def backlog_slope(samples: list[tuple[float, int]]) -> float | None:
    """Least-squares slope of the queued-messages series over the phase's second half."""
    half = samples[len(samples) // 2 :]
    if len(half) < 3:
        return None
    xs, ys = [t for t, _ in half], [n for _, n in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return (
        round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var, 2)
        if var
        else 0.0
    )


class Runner:
    def __init__(
        self, *, variant, base, db, broker, sink, meter, shoppers, products, profile=(0.0, "")
    ):
        self.profile_seconds, self.profile_phase = profile
        self.variant = variant
        self.base = base
        self.db = db
        self.broker = broker
        self.sink = sink
        self.meter = meter
        self.shoppers = shoppers
        self.products = products

    async def run(self, phase: Phase, profile: bool = True) -> PhaseResult:
        result = PhaseResult(phase)
        if self.sink:
            self.sink.delay(phase.smtp_delay_ms)
        emails_before = len(self.sink.received()) if self.sink else 0
        cpu_before = self.meter.snapshot()
        started = time.time()
        async with LoadClient(self.base, self.products) as client:
            progress = asyncio.create_task(self.progress(phase, result, started))
            if profile:  # a closed loop's first round only: one profile per phase
                self.start_profile(phase)
            try:
                if phase.kind == "rest":
                    await self.rest(client, phase, result)
                elif phase.kind == "closed":
                    await self.closed(client, phase, result)
                elif phase.kind == "burst":
                    await self.closed(client, phase, result)
                    steady = dataclasses.replace(phase, rate=phase.then_rate)
                    await self.open(client, dataclasses.replace(steady, seconds=phase.then_seconds),
                                    result)  # fmt: skip
                else:
                    await self.open(client, phase, result)
            finally:
                progress.cancel()
        ended = time.time()
        result.seconds = ended - started
        result.queued_at_end = self.broker.queued() if self.broker else 0
        order_ids = [f.order_id for f in result.flows if f.order_id]
        states = self.db.side_effects(order_ids)
        result.pending_at_end = sum(3 - states.get(i, (0, 0))[0] for i in order_ids)
        # Drain: wait for the phase's side effects and for its queues to empty (deliveries
        # whose work a batch did are still consumed), so the CPU they cost is counted with
        # this phase and not the next.
        deadline = time.monotonic() + max(60.0, phase.total_seconds)
        while time.monotonic() < deadline:
            states = self.db.side_effects(order_ids)
            done = all(states.get(i, (0, 0))[0] == 3 for i in order_ids)
            if done and not result.effects_drain_seconds:
                result.effects_drain_seconds = time.time() - ended
            if done and (self.broker is None or self.broker.queued() == 0):
                break
            await asyncio.sleep(0.25)
        result.drain_seconds = time.time() - ended
        cpu_after = self.meter.snapshot()
        result.cpu = {k: cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0) for k in cpu_after}
        by_id = {f.order_id: f for f in result.flows if f.order_id}
        for order_id, flow in by_id.items():
            done, last = states.get(order_id, (0, 0.0))
            if done < 3:
                result.undone += 1
                continue
            result.delays_ms.append(max(0.0, (last - flow.created_at) * 1000))
            result.lags.append((flow.created_at - started, result.delays_ms[-1]))
        if self.sink:
            received = self.sink.received()[emails_before:]
            in_phase = [t for t, _ in received if started <= t <= ended]
            result.emails = len(received)
            result.smtp_connections = len({c for _, c in received})
            result.email_rate = len(in_phase) / result.seconds if result.seconds else 0.0
        return result

    async def progress(self, phase: Phase, result: PhaseResult, started: float):
        while True:
            await asyncio.sleep(1.0)
            elapsed = time.time() - started
            queued = self.broker.queued() if self.broker else 0
            result.backlog.append((elapsed, queued))
            if int(elapsed) % 5 == 0:
                ok = [f.checkout_ms for f in result.flows if f.order_id]
                p50 = pct(ok, 50)
                total = f"/{phase.seconds:.0f}s" if phase.seconds else ""
                say(
                    f"  [{self.variant}] {phase.name:<8} {elapsed:5.0f}s{total}"
                    f"  orders {len(ok):5d}  checkout p50 {p50 or 0:7.1f} ms  queued {queued}"
                )

    def start_profile(self, phase: Phase) -> None:
        """py-spy the web and worker processes during `phase` when --profile asks for it."""
        if not self.profile_seconds or phase.name != self.profile_phase or not phase.seconds:
            return
        seconds = min(self.profile_seconds, phase.seconds - 4)
        label = f"{self.variant}-{phase.name}"
        asyncio.get_running_loop().call_later(
            2, lambda: asyncio.create_task(self.profiled(label, seconds))
        )

    async def profiled(self, label: str, seconds: float):
        summaries = await asyncio.to_thread(profile_stack, self.meter, label, seconds)
        for summary in summaries:
            say(f"  profile: {summary}")

    async def rest(self, client: LoadClient, phase: Phase, result: PhaseResult):
        shopper = self.shoppers[0]
        for _ in range(phase.flows):
            flow = await client.flow(shopper, phase.name)
            result.flows.append(flow)
            await asyncio.sleep(0.05)
        for flow in result.flows:
            if flow.order_id:
                status, _, elapsed = await client.request(
                    "GET", f"/api/orders/{flow.order_id}/", shopper.token
                )
                if status == 200:
                    result.get_order_ms.append(elapsed)

    async def closed(self, client: LoadClient, phase: Phase, result: PhaseResult):
        deadline = time.monotonic() + phase.seconds

        async def loop(shopper):
            while time.monotonic() < deadline:
                result.flows.append(await client.flow(shopper, phase.name))

        await asyncio.gather(*(loop(s) for s in self.shoppers[: phase.clients]))

    async def open(self, client: LoadClient, phase: Phase, result: PhaseResult):
        interval = 1.0 / phase.rate
        count = int(phase.seconds * phase.rate)
        start = time.monotonic()
        tasks = []

        async def one(n):
            result.flows.append(
                await client.flow(self.shoppers[n % len(self.shoppers)], phase.name)
            )

        for n in range(count):
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)


async def prepare_shoppers(base: str, count: int, variant: str) -> list[Shopper]:
    shoppers = [Shopper(f"bench-{variant}-{n}-{int(time.time())}") for n in range(count)]
    async with LoadClient(base, []) as client:
        # One at a time: the login throttle counts the attempts in flight from one IP (all
        # of the bench's come from 127.0.0.1), and eight at once look like a burst of guesses.
        for shopper in shoppers:
            await client.register(shopper)
    return shoppers


def merged(rounds: list[PhaseResult]) -> PhaseResult:
    """One phase's rounds as one result: their orders over their summed time, the CPU of
    all of them; each round's orders/s kept for the spread."""
    if len(rounds) == 1:
        return rounds[0]
    result = PhaseResult(rounds[0].phase, multiple_rounds=True)
    offset = 0.0
    for part in rounds:
        result.flows += part.flows
        result.seconds += part.seconds
        result.effects_drain_seconds += part.effects_drain_seconds
        result.drain_seconds += part.drain_seconds
        for kind, seconds in part.cpu.items():
            result.cpu[kind] = result.cpu.get(kind, 0.0) + seconds
        result.backlog += [(offset + t, n) for t, n in part.backlog]
        offset += part.seconds
        result.delays_ms += part.delays_ms
        result.undone += part.undone
        result.emails += part.emails
        result.email_rate += part.email_rate * part.seconds
        result.smtp_connections = max(result.smtp_connections, part.smtp_connections)
        result.get_order_ms += part.get_order_ms
    result.email_rate /= result.seconds or 1
    result.queued_at_end = sum(part.queued_at_end for part in rounds)
    result.pending_at_end = sum(part.pending_at_end for part in rounds)
    result.rounds = [part.summary()["orders_per_s"] for part in rounds]
    return result


class Variant:
    """One variant's stack (or the one at --base-url), its database, broker and shoppers:
    started once, then measured phase by phase, its rounds taking turns with the other
    variant's. A stack waiting for its turn costs under 2% of one core (measured: web,
    workers, beat and Flower idle)."""

    HOW = {
        "async": "side effects in Celery workers",
        "sync": "side effects in the request",
        "async-noevents": "side effects in Celery workers, task events off (closed loop only)",
    }
    # A variant that runs some phases only: the rest are the main two's.
    ONLY = {"async-noevents": {"closed"}}

    def __init__(self, name: str, args, broker_url: str):
        self.name = name
        self.args = args
        self.broker_url = broker_url
        self.broker = self.sink = self.stack = self.db = self.runner = None
        self.rounds: dict[str, list[PhaseResult]] = {}
        self.only = self.ONLY.get(name)

    def runs(self, phase: Phase) -> bool:
        return self.only is None or phase.name in self.only

    def search(self, phase: Phase, settle) -> None:
        """Probe steady rates (bursts.next_rate) until the highest that keeps the objective
        is found; every probe after empty queues (`settle`)."""
        say(f"  [{self.name}] phase {phase.name}: {phase.label}")
        result = PhaseResult(phase)
        while rate := bursts.next_rate(result.probes, start=phase.rate, step=phase.step):
            settle()
            probe = dataclasses.replace(phase, kind="open", rate=rate)
            part = asyncio.run(self.runner.run(probe, profile=False))
            summary = part.summary()
            result.probes.append(bursts.Probe(
                rate=rate, checkout_p99_ms=summary["checkout_p99_ms"],
                effects_p99_ms=summary["side_effects_p99_ms"],
                queue_growth_per_s=summary["backlog_growth_per_s"], errors=summary["errors"],
                undone=summary["side_effects_not_done"], checkout_only=self.name == "sync",
            ))  # fmt: skip
            verdict = result.probes[-1].why_not or "kept"
            say(f"  -> {rate:g}/s: {verdict}")
            result.flows += part.flows
            result.seconds += part.seconds
        self.rounds[phase.name] = [result]

    def start(self) -> None:
        args = self.args
        say(f"\n== {self.name}: {self.HOW.get(self.name, 'the stack at --base-url')}")
        if args.base_url:
            base, database_url = args.base_url.rstrip("/"), args.database_url
            self.broker = Broker(self.broker_url) if redis_answers(self.broker_url) else None
            roots = []
        else:
            database_url = fresh_database(args.database_url, self.name)
            self.broker = Broker(self.broker_url)
            self.sink = Sink()
            extra = dict(kv.split("=", 1) for kv in args.env)
            self.stack = ManagedStack(
                variant=self.name, database_url=database_url, broker=self.broker,
                sink=self.sink, extra_env=extra,
            )  # fmt: skip
            say(f"  starting the stack (log: {self.stack.log_path})")
            self.stack.wait_ready()
            base = self.stack.base
            roots = [self.stack.process.pid, self.sink.process.pid]
        self.db = Database(database_url)
        # Plenty of stock: the benchmark measures checkouts, not sell-outs.
        self.db.execute("UPDATE store_product SET on_hand = 100000000, low_stock_threshold = 0")
        products = [row[0] for row in self.db.rows("SELECT id FROM store_product WHERE is_active")]
        meter = CpuMeter(roots, self.broker.port if self.broker else None)
        say(f"  registering {args.clients} shoppers")
        shoppers = asyncio.run(prepare_shoppers(base, args.clients, self.name))
        time.sleep(2)  # let the welcome emails go
        self.runner = Runner(
            variant=self.name, base=base, db=self.db, broker=self.broker, sink=self.sink,
            meter=meter, shoppers=shoppers, products=products,
            profile=(args.profile, args.profile_phase),
        )  # fmt: skip

    def run(self, phase: Phase, round_: int = 1, of: int = 1) -> None:
        part = f", round {round_}/{of}" if of > 1 else ""
        say(f"  [{self.name}] phase {phase.name}{part}: {phase.label}")
        result = asyncio.run(self.runner.run(phase, profile=round_ == 1))
        self.rounds.setdefault(phase.name, []).append(result)
        summary = result.summary()
        say(
            f"  -> {summary['orders']} orders, {summary['orders_per_s']}/s, checkout p50 "
            f"{summary['checkout_p50_ms']} ms, "
            f"side effects p50 {summary['side_effects_p50_ms']} ms"
        )

    def settle(self, timeout: float = 180) -> None:
        """Wait for this stack's queues to empty (its last phase drained for a minute at
        most); say so when they do not."""
        if not self.broker:
            return
        deadline = time.monotonic() + timeout
        while self.broker.queued() and time.monotonic() < deadline:
            time.sleep(0.5)
        if left := self.broker.queued():
            say(f"  [{self.name}] still {left} messages queued: the next turn shares the CPU")

    def results(self) -> dict[str, PhaseResult]:
        return {name: merged(rounds) for name, rounds in self.rounds.items()}

    def stop(self) -> None:
        if self.db:
            self.db.close()
        if self.stack:
            self.stack.stop()
        if self.sink:
            self.sink.stop()
        if self.broker:
            self.broker.stop()


def broker_urls(url: str, count: int) -> list[str]:
    """A Redis database per variant on the same server: both stacks run at once, and the
    idle one's workers must not take the other's tasks. Counting down from --broker-url's
    database (14, 13), away from the tests' 15."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    dbs = [db - n if db - n >= 0 else db + n for n in range(count)]
    return [urlunsplit(parts._replace(path=f"/{n}")) for n in dbs]


def run_variants(variants: list[Variant], phases: list[Phase], rounds: int) -> None:
    """Every phase for each variant in turn, minutes apart at most; a closed loop in
    `rounds` rounds, ABBA, so a slow spell of the machine falls on both variants. A turn
    starts when every stack's queues are empty: work left from another's turn would
    take this one's CPU."""

    def settle():
        for variant in variants:
            variant.settle()

    for phase in phases:
        taking_part = [v for v in variants if v.runs(phase)]
        if phase.kind == "search":
            for variant in taking_part:
                variant.search(phase, settle)
            continue
        turns = rounds if phase.kind == "closed" and len(taking_part) > 1 else 1
        for round_ in range(1, turns + 1):
            order = taking_part if round_ % 2 else taking_part[::-1]
            for variant in order:
                settle()
                variant.run(phase, round_, turns)


def in_process(script: str, title: str) -> dict:
    """A bench script in a subprocess (its own Django, its own test database): the JSON
    line it prints last, or {} when it failed."""
    say(f"\n== {title}")
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        say(f"  failed: {out.stderr[-2000:]}")
        return {}
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- Report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One row of the summary table: a figure of one phase (two for "p50 / p99")."""

    label: str
    phase: str
    keys: tuple[str, ...]
    target: str = ""
    limits: tuple[float | None, ...] = ()  # upper bounds, one per key, for async

    def values(self, summaries: dict) -> tuple | None:
        summary = summaries.get(self.phase)
        return tuple(summary.get(key) for key in self.keys) if summary else None

    def met(self, summaries: dict) -> str:
        values = self.values(summaries)
        if not self.limits or values is None:
            return ""
        pairs = [(v, limit) for v, limit in zip(values, self.limits, strict=True) if limit]
        if any(v is None for v, _ in pairs):
            return "no"
        return "yes" if all(v <= limit for v, limit in pairs) else "no"


P50_P99 = ("checkout_p50_ms", "checkout_p99_ms")
EFFECTS_P50_P99 = ("side_effects_p50_ms", "side_effects_p99_ms")
AFTER = ("steady_checkout_p99_ms", "steady_effects_p99_ms")
FIGURES = [
    Figure("closed-loop orders/s", "closed", ("orders_per_s",), ">= 2x sync"),
    Figure(
        "closed-loop orders/s, side effects done", "closed", ("orders_done_per_s",), ">= 2x sync"
    ),
    Figure("closed-loop orders/s, SMTP 200 ms", "closed200", ("orders_per_s",)),
    Figure(
        "closed-loop orders/s, SMTP 200 ms, side effects done", "closed200", ("orders_done_per_s",)
    ),
    Figure("checkout p50 at rest (ms)", "rest", ("checkout_p50_ms",)),
    Figure("GET /api/orders/{id}/ p50 at rest (ms)", "rest", ("get_order_p50_ms",)),
    Figure("checkout p50 / p99, closed loop (ms)", "closed", P50_P99),
    Figure("checkout p50 / p99 at 10/s (ms)", "open10", P50_P99, "<= 15 / 40", (15, 40)),
    Figure("checkout p50 / p99 at 30/s (ms)", "open30", P50_P99),
    Figure(
        "side effects done p50 / p99 at 30/s (ms)",
        "open30",
        EFFECTS_P50_P99,
        "<= 100 / 500",
        (100, 500),
    ),
    Figure("queue growth at 30/s (messages/s)", "open30", ("backlog_growth_per_s",), "~0"),
    Figure("checkout p50 / p99 at 50/s (ms)", "open50", P50_P99),
    Figure("side effects done p50 / p99 at 50/s (ms)", "open50", EFFECTS_P50_P99),
    Figure("SMTP 200 ms, 20/s: emails drained/s", "smtp200", ("emails_per_s",), "20"),
    Figure(
        "SMTP 200 ms, 20/s: side effects p50 / p99 (ms)",
        "smtp200",
        EFFECTS_P50_P99,
        "p99 <= 2000",
        (None, 2000),
    ),
    Figure("SMTP 200 ms, 20/s: checkout p50 / p99 (ms)", "smtp200", P50_P99),
    Figure("burst, then 30/s: largest side-effect lag (ms)", "burst30", ("burst_max_lag_ms",)),
    Figure(
        "burst, then 30/s: recovery to side effects p99 <= 1 s (s)",
        "burst30",
        ("burst_recovery_s",),
        "<= 10",
        (10,),
    ),
    Figure("burst, then 30/s: checkout / side effects p99 after it (ms)", "burst30", AFTER),
    Figure(
        "burst, SMTP 200 ms, then 20/s: largest side-effect lag (ms)",
        "burst200",
        ("burst_max_lag_ms",),
    ),
    Figure(
        "burst, SMTP 200 ms, then 20/s: recovery (s)",
        "burst200",
        ("burst_recovery_s",),
        "<= 15",
        (15,),
    ),
    Figure("burst, SMTP 200 ms, then 20/s: p99s after it (ms)", "burst200", AFTER),
    Figure("sustainable rate (orders/s)", "search", ("sustainable_rate",), ">= 1.5x sync"),
    Figure(
        "sustainable rate, SMTP 200 ms (orders/s)", "search200", ("sustainable_rate",), ">= 3x sync"
    ),
]


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return " / ".join(fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:.1f}" if value < 1000 else f"{value:.0f}"
    return str(value)


def ratio(a: tuple | None, b: tuple | None) -> str:
    if a and a[0] and b and b[0] is None and b[1:] == ():
        return "sync: none"  # a rate search the synchronous design failed at every rate
    if not a or not b or not a[0] or not b[0]:
        return "-"
    return f"{a[0] / b[0]:.2f}x"


def times_met(cell: str, target: str) -> str:
    """'yes' when a ratio cell meets a target such as '>= 1.5x sync'."""
    if cell == "sync: none":
        return "yes"
    if cell == "-":
        return "no"
    return "yes" if float(cell[:-1]) >= float(target.split()[1][:-1]) else "no"


def row(*cells) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def report(runs: dict, sql: dict, phases: list[Phase], scrape: dict | None = None) -> list[str]:
    variants = [v for v in runs if v in ("async", "sync")] or list(runs)
    both = variants == ["async", "sync"]
    first = variants[0]
    header = ["figure", *variants, *(["async/sync"] if both else []), "target", "met"]
    lines = ["", row(*header), row(*["---"] * len(header))]
    for figure in FIGURES:
        values = [figure.values(runs[v]) for v in variants]
        cells = [fmt(v) for v in values] + ([ratio(values[0], values[1])] if both else [])
        met = figure.met(runs[first])
        if figure.target.endswith("x sync") and both:
            met = times_met(ratio(values[0], values[1]), figure.target)
        lines.append(row(figure.label, *cells, figure.target, met))
    lines += events_cost(runs, len(variants) + both)
    for phase in ("closed", "closed200"):
        by_round = [runs[v].get(phase, {}).get("rounds_orders_per_s") or [] for v in variants]
        if not any(by_round):
            continue
        cells = [" / ".join(fmt(x) for x in r) or "-" for r in by_round]
        if both and len(by_round[0]) == len(by_round[1]):
            ratios = sorted(a / b for a, b in zip(*by_round, strict=True) if b)
            cells.append(f"{ratios[0]:.2f}x to {ratios[-1]:.2f}x" if ratios else "-")
        elif both:
            cells.append("-")
        lines.append(row(f"{phase} orders/s, round by round", *cells, "", ""))
    if sql:
        flat = sql.get("1") == sql.get("50") and max(sql.values()) <= 15
        sql_cells = [f"{sql.get('1')} / {sql.get('50')}"] + [""] * (len(variants) - 1)
        extra = [""] if both else []
        lines.append(
            row("SQL statements per checkout (1 / 50 lines)", *sql_cells, *extra, "<= 15, flat",
                "yes" if flat else "no")
        )  # fmt: skip
    if scrape:
        lines.append(
            row("GET /metrics with 10,000 orders, p50 / p95 (ms)",
                f"{scrape['scrape_p50_ms']} / {scrape['scrape_p95_ms']}",
                *[""] * (len(variants) - 1), *([""] if both else []), "< 50",
                "yes" if scrape["scrape_p95_ms"] < 50 else "no")
        )  # fmt: skip
    worker = runs.get("async", runs.get("given", {})).get("open30", {})
    cpu = worker.get("cpu_ms_per_order", {})
    worker_ms = (cpu.get("worker") or 0) + (cpu.get("mail") or 0)
    if worker_ms:
        per_task = worker_ms / 3
        lines.append(
            row("worker CPU per side-effect task at 30/s (ms)", f"{per_task:.1f}",
                *[""] * (len(variants) - 1), *([""] if both else []), "<= 5",
                "yes" if per_task <= 5 else "no")
        )  # fmt: skip

    kinds = ["web", "relay", "worker", "mail", "beat", "flower", "supervisor", "postgres", "redis"]
    kinds.append("smtp")
    kinds.append("client")
    lines += ["", "CPU ms per order, by process kind:", ""]
    lines += [row("variant, phase", *kinds, "total"), row(*["---"] * (len(kinds) + 2))]
    for variant in variants:
        for phase in ("closed", "closed200", "open30"):
            cpu = runs[variant].get(phase, {}).get("cpu_ms_per_order", {})
            if cpu:
                cells = [fmt(cpu.get(k)) for k in kinds]
                lines.append(row(f"{variant}, {phase}", *cells, fmt(sum(cpu.values()))))

    lines += search_probes(runs)
    lines += ["", "Per phase:", ""]
    columns = ["variant", "phase", "orders", "errors", "orders/s", "checkout p50/p95/p99 ms"]
    columns += ["side effects p50/p95/p99 ms", "queued at end", "drain s: effects / queues"]
    columns += ["emails/s", "SMTP conns"]
    lines += [row(*columns), row(*["---"] * len(columns))]
    for variant in runs:
        for phase in phases:
            s = runs[variant].get(phase.name)
            if not s or phase.kind == "search":
                continue
            checkout = tuple(s[f"checkout_{p}_ms"] for p in ("p50", "p95", "p99"))
            effects = tuple(s[f"side_effects_{p}_ms"] for p in ("p50", "p95", "p99"))
            lines.append(
                row(variant, phase.label, s["orders"], s["errors"], fmt(s["orders_per_s"]),
                    fmt(checkout), fmt(effects), s["queued_at_end"],
                    fmt((s["effects_drain_s"], s["drain_s"])),
                    fmt(s["emails_per_s"]), s["smtp_connections"])
            )  # fmt: skip
    return lines


def events_cost(runs: dict, cells: int) -> list[str]:
    """The closed loop with task events on (async) and off (async-noevents): its cost."""
    on = runs.get("async", {}).get("closed", {})
    off = runs.get("async-noevents", {}).get("closed", {})
    if not on.get("orders_per_s") or not off.get("orders_per_s"):
        return []
    cost = 1 - on["orders_per_s"] / off["orders_per_s"]
    rounds = " / ".join(fmt(x) for x in off.get("rounds_orders_per_s") or [])
    value = f"{fmt(on['orders_per_s'])} on, {fmt(off['orders_per_s'])} off: {cost:.1%}"
    return [
        row("task events: closed-loop orders/s, cost", value, *[""] * (cells - 1),
            "<= 10%", "yes" if cost <= 0.10 else "no"),
        row("task events off: closed orders/s, round by round", rounds, *[""] * (cells - 1),
            "", ""),
    ]  # fmt: skip


def search_probes(runs: dict) -> list[str]:
    lines = []
    for variant, phases in runs.items():
        for name, summary in phases.items():
            if "probes" not in summary:
                continue
            steps = ", ".join(
                f"{p['rate']:g}/s {p['why_not'] or 'kept'}" for p in summary["probes"]
            )
            lines.append(f"- {variant}, {name}: {steps}")
    return ["", "Sustainable-rate probes (checkout p99 <= 100 ms, side effects p99 <= 1 s):", "",
            *lines] if lines else []  # fmt: skip


def plot(raw: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom, bursting) = plt.subplots(3, 1, figsize=(12, 13))
    colors = {"async": "tab:blue", "sync": "tab:orange", "async-noevents": "tab:green"}
    # One clock for both variants: their phases, and a closed loop's rounds, take turns.
    flows_of = {
        (variant, name): [f for f in phase["flows"] if f["order_id"]]
        for variant, phases in raw.items()
        for name, phase in phases.items()
    }
    starts = [f["started"] for flows in flows_of.values() for f in flows]
    t0 = min(starts, default=0.0)
    labelled = set()
    for (variant, name), flows in flows_of.items():
        if not flows:
            continue
        xs = [(f["created_at"] - t0) / 60 for f in flows]
        top.scatter(xs, [f["checkout_ms"] for f in flows], s=2, color=colors.get(variant),
                    alpha=0.5, label=None if variant in labelled else variant)  # fmt: skip
        labelled.add(variant)
        if variant == next(iter(raw)):
            top.axvline(min(xs), color="grey", lw=0.5)
            top.text(min(xs), 1.02, name, transform=top.get_xaxis_transform(), fontsize=8)
    top.set_yscale("log")
    top.set_ylabel("checkout latency (ms)")
    top.set_xlabel("minutes into the run")
    top.set_title("Checkout latency over the run", pad=16)
    top.legend()
    for name, values in raw.get("async", {}).items():
        delays = sorted(values["delays_ms"])
        if not delays or name == "rest":
            continue
        ys = [(i + 1) / len(delays) for i in range(len(delays))]
        bottom.plot(delays, ys, label=name)
    bottom.set_xscale("log")
    bottom.set_xlabel("201 to all side effects done (ms)")
    bottom.set_ylabel("fraction of orders")
    bottom.set_title("Side-effect delay, CDF (async)")
    bottom.grid(True, which="both", alpha=0.3)
    bottom.legend()
    plot_bursts(bursting, raw)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_bursts(axes, raw: dict) -> None:
    """p99 per 2 s of orders over the burst phases (a colour each): Shopflow's side-effect
    lag (solid) and checkout (dashed), the synchronous design's checkout (dotted), which
    holds its side effects."""
    colors = {"burst30": "tab:blue", "burst200": "tab:purple"}
    for variant, phases in raw.items():
        if variant not in ("async", "sync"):
            continue
        for name, values in phases.items():
            if not name.startswith("burst") or not values.get("lags"):
                continue
            started = min(f["started"] for f in values["flows"])
            checkouts = [(f["created_at"] - started, f["checkout_ms"])
                         for f in values["flows"] if f["order_id"]]  # fmt: skip
            lines = [(checkouts, ":", "checkout")]
            if variant == "async":
                lines = [(values["lags"], "-", "side effects"), (checkouts, "--", "checkout")]
            for series, style, what in lines:
                points = bursts.lag_series(series)
                xs, ys = [t for t, _, _ in points], [max(p99, 1) for _, p99, _ in points]
                label = f"{variant}, {name}: {what}"
                axes.plot(xs, ys, style, color=colors.get(name), label=label)
            axes.axvline(values["burst_end"], color="grey", lw=0.5)
    axes.axhline(bursts.RECOVERED_P99_MS, color="red", lw=0.5)
    axes.set_yscale("log")
    axes.set_xlabel("seconds into the phase (grey line: the burst ends, the steady rate goes on)")
    axes.set_ylabel("p99 per 2 s of orders (ms)")
    axes.set_title("Burst and recovery: 201 to side effects done, and the checkout itself")
    axes.grid(True, which="both", alpha=0.3)
    if axes.lines:
        axes.legend(fontsize=8)


def reference_cpu_ms() -> float:
    """CPU ms of a fixed pure-Python loop, best of five: how fast this machine is right
    now, so that absolute figures of runs on other days can be compared (this shared
    machine's speed has varied by almost 2x between sessions)."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        total = 0
        for number in range(1_000_000):
            total += number * number % 7
        best = min(best, time.process_time() - start)
    return round(best * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="benchmark a stack already running (no baseline)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "sqlite:///"),
        help="server for the bench databases (default: DATABASE_URL, else SQLite)",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="Redis for the stack (emptied); one is started when it does not answer",
    )
    parser.add_argument("--variants", default="async,sync,async-noevents")
    parser.add_argument(
        "--phases",
        help="comma-separated subset of: rest,closed,closed200,open10,open30,open50,smtp200,"
        "burst30,burst200,search,search200",
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--closed-seconds", type=float, default=12, help="each round of a closed loop"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="closed-loop rounds per variant, taking turns (even: each goes first as often)",
    )
    parser.add_argument("--quick", action="store_true", help="phases a quarter as long")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the stack")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run the side-effect workers (worker and mail) as N processes each, as "
        "`docker compose up --scale worker=N --scale mail=N` does (WORKER_REPLICAS)",
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0,
        metavar="SECONDS",
        help="py-spy the web and worker processes this long during --profile-phase",
    )
    parser.add_argument("--profile-phase", default="closed", help="default: closed")
    parser.add_argument("--out", default=str(RESULTS / "load.json"))
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    if args.workers is not None:
        if args.workers < 1:
            parser.error("--workers must be 1 or more")
        args.env.append(f"WORKER_REPLICAS={args.workers}")
    if args.base_url and not args.database_url.startswith(("postgres", "sqlite:///")):
        parser.error("--base-url needs --database-url of that stack")

    phases = phases_for(args)
    if args.phases:
        wanted = set(args.phases.split(","))
        phases = [p for p in phases if p.name in wanted]
    names = ["given"] if args.base_url else args.variants.split(",")
    reference_before = reference_cpu_ms()
    say(f"reference CPU loop: {reference_before} ms (the machine's speed now)")
    if len(names) == 1:  # nothing to take turns with: one closed loop, as long as all rounds
        phases = [
            dataclasses.replace(p, seconds=p.seconds * args.rounds) if p.kind == "closed" else p
            for p in phases
        ]
    variants = [
        Variant(name, args, url)
        for name, url in zip(names, broker_urls(args.broker_url, len(names)), strict=True)
    ]
    try:
        for variant in variants:
            variant.start()
        run_variants(variants, phases, args.rounds)
    finally:
        for variant in variants:
            variant.stop()
    raw, summaries = {}, {}
    for variant in variants:
        results = variant.results()
        summaries[variant.name] = {name: r.summary() for name, r in results.items()}
        raw[variant.name] = {
            name: {
                "flows": [f.__dict__ for f in r.flows],
                "delays_ms": r.delays_ms,
                "lags": r.lags,
                "burst_end": r.phase.seconds,
                "backlog": r.backlog,
                "get_order_ms": r.get_order_ms,
            }
            for name, r in results.items()
        }
    sql = scrape = {}
    if not args.base_url:
        sql = in_process(
            "sql_per_checkout.py",
            "SQL statements per checkout (in-process, after-commit publish included)",
        )
        scrape = in_process("metrics_scrape.py", "GET /metrics with 10,000 orders (in-process)")
    lines = report(summaries, sql, phases, scrape)
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    reference = [reference_before, reference_cpu_ms()]
    lines.append(f"\nReference CPU loop before / after the run: {reference[0]} / {reference[1]} ms")
    print(lines[-1])
    machine = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "reference_cpu_loop_ms": reference,
    }
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine,
                "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite",
                "summary": summaries,
                "sql_per_checkout": sql,
                "metrics_scrape": scrape,
                "table": lines,
                "raw": raw,
            },
            indent=1,
        )
    )
    png = out.with_suffix(".png")
    plot(raw, png)
    say(f"\nraw numbers: {out}\nplot: {png}")


if __name__ == "__main__":
    main()
