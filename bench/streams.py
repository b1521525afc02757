"""Benchmark of the live notification channels, WebSocket (/ws/notifications/) and
Server-Sent Events (GET /api/notifications/stream/): how many idle connections one web
process holds, and the delay from commit to event, for each transport in turn.

    .venv/bin/python bench/streams.py            # three parts, both transports, ~9 minutes
    .venv/bin/python bench/streams.py --quick    # a smoke run, about a minute
    .venv/bin/python bench/streams.py --transports sse

  held   ONE web process (gunicorn, 1 uvicorn worker). Streams are opened in steps
         (--levels); at each: streams open, the worker's RSS, threads, file descriptors
         and database connections, its CPU while idle over one heartbeat period, the time
         one notification takes to reach every stream of its recipient, and one to every
         user at once (every open stream gets an event).
  delay  Two web processes, as `make run` starts them, and 100 streams over 50 users:
         notifications created at 50/s for 20 s; commit-to-event delay p50/p95/p99/max,
         and every event that did not reach a stream of its recipient.
  restart  The same, at 10/s for 30 s, with the channel layer's Redis stopped at 10 s and
         started again, empty, 2 s later: every event must still arrive, once.

The web processes run the command `make run` uses (devstack.services.service_argv), against a
fresh database (PostgreSQL when DATABASE_URL points at one, else SQLite) and a Redis of
their own (see PrivateRedis; --redis-url to use one anyway). Notifications are created
in this process (Django set up here with the web's environment) and the streams are read
here too, so commit and receipt are timed on one clock (time.perf_counter).

It prints a table, writes the raw numbers to bench/results/streams.json and draws
bench/results/streams.png.
"""

import argparse
import asyncio
import contextlib
import json
import logging
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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/, for `import load`

from load import RESULTS, ROOT, WORK, Broker, fmt, fresh_database, pct, row, say

from devstack.services import service_argv, service_env
from devstack.stack import Guard, free_port, redis_server_binary, wait_for_redis

STREAM_PATH = "/api/notifications/stream/"
HEARTBEAT_SECONDS = 15  # the default; also the idle window: one heartbeat per stream
TARGET_STREAMS = 1000
TARGET_P99_MS = 1000.0
# "Promptly", for one notification at a level of open streams: the delay target.
PROMPT_MS = TARGET_P99_MS
USERS = 50


# --- Environment and processes ----------------------------------------------------------------


def raise_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard one; the web processes inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def web_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "core.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "CELERY_BROKER_URL": redis_url,
        "CHANNEL_LAYER_URL": redis_url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SHOPFLOW_STREAM_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }
    # What `make run` adds for its services: no HTTPS redirect on plain HTTP, DEBUG off.
    return {**env, **service_env(env, WORK)}


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
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
            python=sys.executable, port=self.port, flower_port=0,
            env={**env, "WEB_CONCURRENCY": str(workers)},
        )["web"]  # fmt: skip
        WORK.mkdir(parents=True, exist_ok=True)
        self.log_path = WORK / f"streams-web-{label}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
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
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            cwd=WORK, stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
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
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
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


# --- Notifications, created in this process --------------------------------------------------


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)  # the web processes' settings, database and Redis
    import django

    django.setup()


def create_users(count: int) -> list[tuple[int, str]]:
    """(user id, API token) for `count` new users."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    users = []
    for n in range(count):
        user = get_user_model().objects.create_user(
            f"stream-{n}", email=f"stream-{n}@bench.example", password=None
        )
        users.append((user.pk, Token.objects.create(user=user).key))
    return users


class Creator:
    """Creates notifications in one thread of its own: the event loop that reads the
    streams must not wait on the database, and one thread keeps one connection."""

    def __init__(self):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="creator")

    @staticmethod
    def create_now(user_ids: list[int], message: str) -> tuple[list[int], float]:
        """(notification ids, commit time) for one notification to each user, as a
        receiver writes them: in a transaction, published once it commits."""
        from django.db import transaction

        from notifications import services

        committed: list[float] = []
        with transaction.atomic():
            # Registered before the notification's own publish, so it runs first after
            # the commit: the time of the commit itself, not of the PUBLISH after it.
            transaction.on_commit(lambda: committed.append(time.perf_counter()))
            rows = services.notifications_create(
                recipient_ids=user_ids, kind="message", message=message
            )
        return [row.pk for row in rows], committed[0]

    def create(self, user_ids: list[int], message: str) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.executor, self.create_now, user_ids, message)

    def stop(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


# --- The stream client ------------------------------------------------------------------------


class Stream:
    """One SSE connection, by hand over asyncio streams (one socket and one task each: a
    client library would cost more per stream than the server does)."""

    def __init__(self, user_id: int, token: str):
        self.user_id = user_id
        self.token = token
        self.received: dict[int, float] = {}  # notification id: perf_counter at arrival
        self.duplicates = 0
        self.heartbeats = 0
        self.error = ""
        self.open = False
        self.ready = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task | None = None

    async def connect(self, port: int, timeout: float) -> bool:
        try:
            reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout
            )
            self.writer.write(
                f"GET {STREAM_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Token {self.token}\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                self.error = f"HTTP {status}"
                self.close()
                return False
            chunked = b"transfer-encoding: chunked" in head.lower()
            self.open = True
            self.task = asyncio.create_task(self._read(reader, chunked))
            # The first event ("retry:") is sent once the stream listens to its process's
            # hub: from then on, whatever is committed reaches it.
            await asyncio.wait_for(self.ready.wait(), timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            self.error = self.error or type(exc).__name__
        if self.error:
            self.close()
            return False
        return True

    async def _read(self, reader: asyncio.StreamReader, chunked: bool) -> None:
        buffer = b""
        try:
            while True:
                if chunked:
                    size = int((await reader.readline()).split(b";")[0] or b"0", 16)
                    if size == 0:
                        break
                    data = (await reader.readexactly(size + 2))[:-2]
                else:
                    data = await reader.read(65536)
                    if not data:
                        break
                now = time.perf_counter()
                *blocks, buffer = (buffer + data).split(b"\n\n")
                for block in blocks:
                    self._event(block, now)
            self.error = "closed by the server"
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.error = type(exc).__name__
        finally:
            self.open = False
            self.ready.set()

    def _event(self, block: bytes, now: float) -> None:
        self.ready.set()
        for line in block.split(b"\n"):
            if line.startswith(b":"):
                self.heartbeats += 1
            elif line.startswith(b"id:"):
                event_id = int(line[3:])
                if event_id in self.received:
                    self.duplicates += 1
                else:
                    self.received[event_id] = now

    def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.writer:
            self.writer.close()
        self.open = False


class Socket:
    """One WebSocket (the websockets library's asyncio client), opened with a stream token
    of its own (a socket takes each once), as the notifications page's would be."""

    def __init__(self, user_id: int, token: str):
        self.user_id = user_id
        self.received: dict[int, float] = {}  # notification id: perf_counter at arrival
        self.duplicates = 0
        self.heartbeats = 0  # none: uvicorn pings the socket, the client answers
        self.error = ""
        self.open = False
        self.connection = None
        self.task: asyncio.Task | None = None

    async def connect(self, port: int, timeout: float) -> bool:
        from websockets.asyncio.client import connect

        from notifications.services import stream_token_issue

        ticket = stream_token_issue(user=SimpleNamespace(pk=self.user_id))
        url = f"ws://127.0.0.1:{port}/ws/notifications/?token={ticket}"
        try:
            # The server joins the user's group before it completes the handshake: once
            # open, whatever is committed reaches this socket.
            self.connection = await asyncio.wait_for(
                connect(url, origin=f"http://127.0.0.1:{port}", ping_interval=None), timeout
            )
        except (OSError, TimeoutError, Exception) as exc:  # websockets' handshake errors too
            self.error = type(exc).__name__
            return False
        self.open = True
        self.task = asyncio.create_task(self._read())
        return True

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                now = time.perf_counter()
                frame = json.loads(message)
                if frame.get("type") != "notification":
                    continue
                if frame["id"] in self.received:
                    self.duplicates += 1
                else:
                    self.received[frame["id"]] = now
            self.error = f"closed by the server ({self.connection.close_code})"
        except Exception as exc:
            self.error = type(exc).__name__
        finally:
            self.open = False

    def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.connection:
            self.connection.transport.abort()
        self.open = False


TRANSPORTS = {"websocket": Socket, "sse": Stream}


class Pool:
    """Streams to one web service, spread round-robin over the users."""

    def __init__(self, port: int, users: list[tuple[int, str]], transport: str):
        self.port = port
        self.users = users
        self.kind = TRANSPORTS[transport]
        self.streams: list[Stream] = []
        self.failed: list[Stream] = []

    def alive(self) -> list[Stream]:
        return [s for s in self.streams if s.open]

    def of_user(self, user_id: int) -> list[Stream]:
        return [s for s in self.streams if s.open and s.user_id == user_id]

    async def open_up_to(self, total: int, concurrency: int = 64, timeout: float = 30) -> dict:
        """Open streams until `total` were tried; returns how that went."""
        first = len(self.streams) + len(self.failed)
        new = [self.kind(*self.users[n % len(self.users)]) for n in range(first, total)]
        # A bounded number of handshakes in flight: a burst of thousands of SYNs would
        # measure the listen backlog, not the server.
        gate = asyncio.Semaphore(concurrency)
        done = 0

        async def one(stream: Stream) -> bool:
            nonlocal done
            async with gate:
                ok = await stream.connect(self.port, timeout)
            done += 1
            return ok

        async def progress():
            while True:
                await asyncio.sleep(2)
                say(f"    opening: {done}/{len(new)} tried, {len(self.alive())} open before")

        started = time.perf_counter()
        reporter = asyncio.create_task(progress())
        try:
            results = await asyncio.gather(*(one(s) for s in new))
        finally:
            reporter.cancel()
        seconds = time.perf_counter() - started
        self.streams += [s for s, ok in zip(new, results, strict=True) if ok]
        failed = [s for s, ok in zip(new, results, strict=True) if not ok]
        self.failed += failed
        return {
            "tried": len(new),
            "failed": len(failed),
            "errors": dict(Counter(s.error for s in failed)),
            "open_per_s": round(len(new) / seconds, 1) if seconds else None,
        }

    async def close(self) -> None:
        tasks = [s.task for s in self.streams if s.task]
        for stream in self.streams:
            stream.close()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_delivered(streams_by_id: dict[int, list[Stream]], timeout: float) -> None:
    """Until every stream has its notification, or `timeout`. Polling only decides when we
    stop looking: arrival times are taken by the readers."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(i in s.received for i, streams in streams_by_id.items() for s in streams):
            return
        await asyncio.sleep(0.005)


async def notify(pool: Pool, creator: Creator, user_ids: list[int], timeout: float = 10) -> dict:
    """One notification to each of `user_ids`: how long until each of their open streams
    had it, from the commit."""
    targets = {uid: pool.of_user(uid) for uid in user_ids}
    ids, committed = await creator.create(user_ids, "bench: one notification")
    by_id = dict(zip(ids, targets.values(), strict=True))
    await wait_delivered(by_id, timeout)
    delays = [
        (s.received[i] - committed) * 1000 for i, ss in by_id.items() for s in ss if i in s.received
    ]
    expected = sum(len(ss) for ss in by_id.values())
    return {
        "users": len(user_ids),
        "streams": expected,
        "delivered": len(delays),
        "p50_ms": round(pct(delays, 50), 1) if delays else None,
        "max_ms": round(max(delays), 1) if delays else None,
    }


# --- Part 1: streams one process holds --------------------------------------------------------


async def held(args, web: Web, users, creator: Creator, database_url: str) -> dict:
    worker = web.wait_ready()[0]
    pool = Pool(web.port, users, args.transport)
    say(f"  web worker pid {worker.pid}, port {web.port} (log: {web.log_path})")
    result = {"worker_pid": worker.pid, "baseline": sample(worker, database_url), "steps": []}
    try:
        for level in args.levels:
            say(f"  level {level}: opening streams")
            opened = await pool.open_up_to(level)
            await asyncio.sleep(1)
            say(f"    {len(pool.alive())} open; idle for {args.idle_seconds:g}s")
            heartbeats = sum(s.heartbeats for s in pool.streams)
            cpu0, t0 = cpu_seconds([worker]), time.perf_counter()
            await asyncio.sleep(args.idle_seconds)
            idle_cpu = (cpu_seconds([worker]) - cpu0) / (time.perf_counter() - t0) * 100
            heartbeats = sum(s.heartbeats for s in pool.streams) - heartbeats
            stats = sample(worker, database_url)
            say("    one notification to one user, then one to every user")
            one_user = [
                await notify(pool, creator, [users[n % len(users)][0]])
                for n in range(args.broadcasts)
            ]
            every_user = await notify(pool, creator, [uid for uid, _ in users])
            alive = len(pool.alive())
            step = {
                "level": level,
                "open": alive,
                "failed": len(pool.failed),
                "dropped": len(pool.streams) - alive,
                **opened,
                **stats,
                "idle_cpu_pct": round(idle_cpu, 2),
                "idle_seconds": args.idle_seconds,
                "heartbeats_in_idle": heartbeats,
                "one_user": one_user,
                "one_user_max_ms": worst([b["max_ms"] for b in one_user]),
                "one_user_delivered": all(b["delivered"] == b["streams"] for b in one_user),
                "every_user": every_user,
                "worker_alive": worker.is_running() and web.workers() == [worker],
            }
            result["steps"].append(step)
            say(
                f"    -> {alive} open, {len(pool.failed)} failed, RSS {stats['rss_mb']} MB, "
                f"threads {stats['threads']}, fds {stats['fds']}, DB conns {stats['db_conns']}, "
                f"idle CPU {idle_cpu:.1f}%, one user {step['one_user_max_ms']} ms, "
                f"every user {every_user['max_ms']} ms "
                f"({every_user['delivered']}/{every_user['streams']})"
            )
            if not step["worker_alive"]:
                say("    the web worker died or was replaced; stopping")
                break
            if pool.failed or step["dropped"]:
                say("    streams failed or dropped; stopping here")
                break
        if args.py_spy:
            result["py_spy"] = py_spy_summary(worker.pid, f"{len(pool.alive())}-streams")
            if result["py_spy"]:
                say(f"  py-spy: {result['py_spy']['threads']} threads ({result['py_spy']['file']})")
    finally:
        await pool.close()
    # What closing every stream gives back (a stream never cleaned up would show here).
    # Threads take a while: each closed stream's is joined by a thread of its own.
    started, settled = time.perf_counter(), None
    while worker.is_running() and time.perf_counter() - started < 30:
        await asyncio.sleep(0.5)
        settled = sample(worker, database_url)
        if settled["threads"] <= result["baseline"]["threads"] + 8:
            break
    if settled:
        settled["seconds"] = round(time.perf_counter() - started, 1)
        result["after_close"] = settled
        say(f"  all closed, {settled['seconds']}s later: {settled}")
    return result


def worst(values: list[float | None]) -> float | None:
    """The largest, or None when any is missing (a stream that never got it)."""
    return None if any(v is None for v in values) else max(values, default=None)


def streams_held(steps: list[dict]) -> int:
    """The highest level at which every stream opened and stayed open, and every stream
    got its notification promptly."""
    best = 0
    for step in steps:
        if (
            step["failed"] == 0
            and step["dropped"] == 0
            and step["worker_alive"]
            and step["one_user_delivered"]
            and (step["one_user_max_ms"] or 0) <= PROMPT_MS
        ):
            best = step["open"]
        else:
            break
    return best


# --- Part 2: commit to event at 50/s ---------------------------------------------------------


async def delay(args, web: Web, users, creator: Creator) -> dict:
    workers = web.wait_ready()
    pool = Pool(web.port, users, args.transport)
    say(f"  {len(workers)} web workers, port {web.port}; opening {args.delay_streams} streams")
    try:
        opened = await pool.open_up_to(args.delay_streams)
        port = web.port
        per_worker = [
            sum(1 for c in w.net_connections("tcp") if c.laddr.port == port and c.raddr)
            for w in workers
        ]
        say(f"  {len(pool.alive())} open ({per_worker} per worker); {args.rate:g}/s "
            f"for {args.seconds:g}s")  # fmt: skip
        await asyncio.sleep(1)
        count = int(args.rate * args.seconds)
        created: list[tuple[int, float, list[Stream]]] = []  # (id, committed, its streams)
        cpu0 = cpu_seconds(workers)
        started = time.perf_counter()

        async def one(n: int):
            uid = users[n % len(users)][0]
            streams = pool.of_user(uid)
            ids, committed = await creator.create([uid], f"bench: message {n}")
            created.append((ids[0], committed, streams))

        async def progress():
            while True:
                await asyncio.sleep(5)
                arrived = [
                    (s.received[i] - t) * 1000
                    for i, t, ss in created
                    for s in ss
                    if i in s.received
                ]
                say(
                    f"    {time.perf_counter() - started:4.0f}s  created {len(created):5d}  "
                    f"events {len(arrived):5d}  p99 so far {pct(arrived, 99) or 0:.1f} ms"
                )

        reporter = asyncio.create_task(progress())
        tasks = []
        try:
            for n in range(count):
                # Open loop: a fixed schedule, whatever the previous commit took.
                wait = started + n / args.rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                tasks.append(asyncio.create_task(one(n)))
            await asyncio.gather(*tasks)
            created_in = time.perf_counter() - started
            await wait_delivered({i: ss for i, _, ss in created}, timeout=5)
        finally:
            reporter.cancel()
        cpu = cpu_seconds(workers) - cpu0
        delays, missed = [], 0
        for event_id, committed, streams in created:
            for stream in streams:
                if event_id in stream.received:
                    delays.append((stream.received[event_id] - committed) * 1000)
                else:
                    missed += 1
        expected = sum(len(ss) for _, _, ss in created)
        return {
            "workers": len(workers),
            "streams": len(pool.alive()),
            "streams_per_worker": per_worker,
            **{f"open_{k}": v for k, v in opened.items()},
            "notifications": len(created),
            "rate_achieved": round(len(created) / created_in, 1),
            "events_expected": expected,
            "events_missed": missed,
            "duplicates": sum(s.duplicates for s in pool.streams),
            "dropped_streams": len(pool.streams) - len(pool.alive()),
            "p50_ms": pct(delays, 50),
            "p95_ms": pct(delays, 95),
            "p99_ms": pct(delays, 99),
            "max_ms": max(delays) if delays else None,
            "web_cpu_ms_per_notification": round(cpu / len(created) * 1000, 2),
            "delays_ms": [round(d, 3) for d in delays],
        }
    finally:
        await pool.close()


# --- Part 3: the channel layer's Redis restarted under open connections ---------------------


async def restart(args, web: Web, users, creator: Creator, broker) -> dict:
    """Notifications at 10/s for 30 s; at 10 s Redis is stopped, and started again empty
    2 s later. Every event must reach every connection of its user once: what the layer
    dropped comes from the database when the web processes see Redis back."""
    workers = web.wait_ready()
    pool = Pool(web.port, users, args.transport)
    try:
        await pool.open_up_to(args.delay_streams)
        await asyncio.sleep(1)
        created: list[tuple[int, float, list]] = []
        started, rate, seconds = time.perf_counter(), 10.0, 30.0

        async def one(n: int):
            uid = users[n % len(users)][0]
            streams = pool.of_user(uid)
            ids, committed = await creator.create([uid], f"bench: restart {n}")
            created.append((ids[0], committed, streams))

        async def outage():
            await asyncio.sleep(10)
            say("    stopping Redis")
            await asyncio.to_thread(broker.stop)
            await asyncio.sleep(2)
            await asyncio.to_thread(broker.start)
            say("    Redis started again, empty")

        tasks = [asyncio.create_task(outage())]
        for n in range(int(rate * seconds)):
            wait = started + n / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        # The watch asks Redis once a heartbeat: give it two.
        await wait_delivered({i: ss for i, _, ss in created}, timeout=2 * HEARTBEAT_SECONDS + 5)
        delays, missed = [], 0
        for event_id, committed, streams in created:
            for stream in streams:
                if event_id in stream.received:
                    delays.append((stream.received[event_id] - committed) * 1000)
                else:
                    missed += 1
        return {
            "workers": len(workers),
            "streams": len(pool.alive()),
            "notifications": len(created),
            "events_expected": sum(len(ss) for _, _, ss in created),
            "events_missed": missed,
            "duplicates": sum(s.duplicates for s in pool.streams),
            "dropped_streams": len(pool.streams) - len(pool.alive()),
            "p50_ms": pct(delays, 50),
            "max_ms": max(delays) if delays else None,
        }
    finally:
        await pool.close()


# --- Report ---------------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "met" if ok else "not met"


LABELS = {"websocket": "WebSocket", "sse": "Server-Sent Events"}


def report(result: dict, transport: str) -> list[str]:
    steps = result.get("held", {}).get("steps", [])
    best = streams_held(steps)
    tried = max((s["level"] for s in steps), default=0)
    d = result.get("delay") or {}
    lines = ["", f"== {LABELS[transport]}", ""]
    lines += [row("figure", "value", "target", "met"), row(*["---"] * 4)]
    lines.append(
        row(
            "idle connections one web process holds (all open, events prompt)"
            + ("" if steps else ": not run"),
            f"{best} (tried up to {tried})",
            f">= {TARGET_STREAMS}",
            met(best >= TARGET_STREAMS),
        )
    )
    at_target = next((s for s in steps if s["level"] == TARGET_STREAMS), None)
    if at_target:
        lines.append(
            row(f"  at {TARGET_STREAMS}: worker RSS / threads / DB connections",
                f"{at_target['rss_mb']} MB / {at_target['threads']} / {at_target['db_conns']}",
                "", "")
        )  # fmt: skip
        lines.append(
            row(f"  at {TARGET_STREAMS}: idle CPU / one notification, last stream",
                f"{at_target['idle_cpu_pct']}% / {fmt(at_target['one_user_max_ms'])} ms",
                "", "")
        )  # fmt: skip
    if d:
        p = (d["p50_ms"], d["p95_ms"], d["p99_ms"], d["max_ms"])
        lines.append(
            row(f"commit to event at {d['rate_achieved']:g}/s, p50 / p95 / p99 / max (ms)",
                fmt(p), f"p99 <= {TARGET_P99_MS:.0f}",
                met(d["p99_ms"] is not None and d["p99_ms"] <= TARGET_P99_MS))
        )  # fmt: skip
        lines.append(
            row("events missed at 50/s", f"{d['events_missed']} of {d['events_expected']}", "0",
                met(d["events_missed"] == 0))
        )  # fmt: skip
    r = result.get("restart") or {}
    if r:
        lines.append(
            row("Redis restarted under open connections: events missed / duplicated",
                f"{r['events_missed']} / {r['duplicates']} of {r['events_expected']} "
                f"(max delay {fmt(r['max_ms'])} ms)", "0 / 0",
                met(r["events_missed"] == 0 and r["duplicates"] == 0))
        )  # fmt: skip
    columns = ["open", "failed", "opened/s", "RSS MB", "KB/stream", "threads", "fds", "DB conns"]
    columns += ["idle CPU %", "1 user: streams, max ms", "every user: delivered, max ms"]
    lines += ["", "One web process (1 uvicorn worker), by open streams:", ""]
    lines += [row(*columns), row(*["---"] * len(columns))]
    if not steps:
        return lines
    base = result["held"]["baseline"]
    for s in steps:
        per_stream = (s["rss_mb"] - base["rss_mb"]) * 1024 / s["open"] if s["open"] else None
        every = s["every_user"]
        lines.append(
            row(s["open"], s["failed"], fmt(s["open_per_s"]), s["rss_mb"], fmt(per_stream),
                s["threads"], s["fds"], s["db_conns"], s["idle_cpu_pct"],
                f"{s['one_user'][0]['streams']}, {fmt(s['one_user_max_ms'])}",
                f"{every['delivered']}/{every['streams']}, {fmt(every['max_ms'])}")
        )  # fmt: skip
    after = result["held"].get("after_close")
    if after:
        lines.append(
            f"\nbaseline: {base}\nall streams closed: {after}"  # leaks would show here
        )
    if d:
        lines.append(
            f"\nAt 50/s: {d['streams']} streams over {USERS} users, {d['workers']} workers "
            f"({d['streams_per_worker']} streams each), {d['notifications']} notifications, "
            f"{d['duplicates']} duplicates, {d['dropped_streams']} streams dropped, web CPU "
            f"{d['web_cpu_ms_per_notification']} ms per notification"
        )
    return lines


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # Django's root logger is INFO
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 5))
    for transport, result in results.items():
        label = LABELS[transport]
        steps = result.get("held", {}).get("steps", [])
        xs = [s["open"] for s in steps]
        left.plot(xs, [s["rss_mb"] for s in steps], "o-", label=f"{label}: RSS (MB)")
        left.plot(xs, [s["threads"] for s in steps], "s--", label=f"{label}: threads")
        middle.plot(xs, [s["one_user_max_ms"] for s in steps], "o-",
                    label=f"{label}: one user, last connection")  # fmt: skip
        middle.plot(xs, [s["every_user"]["max_ms"] for s in steps], "s-",
                    label=f"{label}: every user at once, last connection")  # fmt: skip
        delays = sorted((result.get("delay") or {}).get("delays_ms", []))
        if delays:
            right.plot(delays, [(i + 1) / len(delays) for i in range(len(delays))], label=label)
    left.set_xlabel("open connections")
    left.set_ylabel("worker RSS (MB), threads")
    left.set_title("One web process: memory and threads")
    left.legend(loc="upper left", fontsize=8)
    left.grid(True, alpha=0.3)

    middle.axhline(PROMPT_MS, color="grey", lw=0.8, ls=":")
    middle.set_yscale("log")
    middle.set_xlabel("open connections")
    middle.set_ylabel("commit to event (ms)")
    middle.set_title("Broadcast latency")
    middle.legend(loc="upper left", fontsize=8)
    middle.grid(True, which="both", alpha=0.3)

    right.axvline(TARGET_P99_MS, color="grey", lw=0.8, ls=":")
    right.axhline(0.99, color="grey", lw=0.8, ls=":")
    right.set_xscale("log")
    right.legend(loc="lower right", fontsize=8)
    right.set_xlabel("commit to event (ms)")
    right.set_ylabel("fraction of events")
    right.set_title("Delay at 50 notifications/s, CDF")
    right.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --- Main -----------------------------------------------------------------------------------


def interrupted(signum, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and short")
    parser.add_argument("--levels", help="open streams to step through (default 250..2000)")
    parser.add_argument("--rate", type=float, default=50, help="notifications/s (default 50)")
    parser.add_argument("--seconds", type=float, help="at --rate (default 20)")
    parser.add_argument("--delay-streams", type=int, default=100)
    parser.add_argument("--delay-workers", type=int, default=2)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "sqlite:///"),
        help="server for the bench database (default: DATABASE_URL, else SQLite)",
    )
    parser.add_argument(
        "--redis-url", help="a Redis to use (emptied) instead of one started for the run"
    )
    parser.add_argument("--no-py-spy", dest="py_spy", action="store_false",
                        help="skip the py-spy dump of the worker at the last level")  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS / "streams.json"))
    parser.add_argument("--parts", default="held,delay,restart",
                        help="which parts (default held,delay,restart)")  # fmt: skip
    parser.add_argument("--transports", default="websocket,sse",
                        help="which, in turn (default websocket,sse)")  # fmt: skip
    args = parser.parse_args()
    args.transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = set(args.transports) - set(TRANSPORTS)
    if unknown:
        parser.error(f"unknown transport(s): {', '.join(sorted(unknown))}")
    default_levels = "50,100" if args.quick else "250,500,1000,1500,2000"
    args.levels = [int(n) for n in (args.levels or default_levels).split(",")]
    args.seconds = args.seconds or (5 if args.quick else 20)
    args.idle_seconds = 3 if args.quick else HEARTBEAT_SECONDS
    args.broadcasts = 2 if args.quick else 3

    # Ctrl-C and SIGTERM alike unwind through the `finally` that stops what we started.
    # A handler of our own also keeps asyncio.run from installing its SIGINT handler,
    # which only cancels the main task (a cancellation that can get lost on 3.11).
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    limit = raise_fd_limit()
    # Each stream is a socket here and one there; the web process's other descriptors come
    # on top (see "fds" in the table).
    needed = max(args.levels) + 200
    fd_note = f"RLIMIT_NOFILE {limit[0]} (hard {limit[1]})"
    if limit[0] < needed:
        fd_note += f": LIMITED, fewer than the {needed} the top level needs"
    # Other work on the machine skews every figure here: say how busy it was.
    load_before = os.getloadavg()
    say(f"== streams benchmark; {fd_note}; load average {load_before[0]:.2f}")

    broker = web = creator = web_limit = None
    guard = Guard()
    results: dict[str, dict] = {}
    try:
        database_url = fresh_database(args.database_url, "streams")
        broker = Broker(args.redis_url) if args.redis_url else PrivateRedis(guard)
        env = web_env(database_url, broker.url)
        say(f"  database {database_url}, Redis {broker.url}; migrating")
        migrate(env)
        setup_django(env)
        users = create_users(USERS)
        creator = Creator()

        for transport in args.transports:
            args.transport = transport
            result = results[transport] = {}
            if "held" in args.parts:
                say(f"\n== {LABELS[transport]}, held: idle connections of one web process, "
                    f"levels {args.levels}")  # fmt: skip
                web = Web(env, workers=1, label=f"held-{transport}", guard=guard)
                web_limit = psutil.Process(web.wait_ready()[0].pid).rlimit(psutil.RLIMIT_NOFILE)
                say(f"  web worker RLIMIT_NOFILE {web_limit[0]} (hard {web_limit[1]})")
                result["held"] = asyncio.run(held(args, web, users, creator, database_url))
                web.stop()
            if "delay" in args.parts:
                say(f"\n== {LABELS[transport]}, delay: commit to event at {args.rate:g}/s "
                    f"for {args.seconds:g}s")  # fmt: skip
                web = Web(env, workers=args.delay_workers, label=f"delay-{transport}", guard=guard)
                result["delay"] = asyncio.run(delay(args, web, users, creator))
                web.stop()
                web = None
            if "restart" in args.parts and isinstance(broker, PrivateRedis):
                say(f"\n== {LABELS[transport]}, restart: Redis restarted under open connections")
                web = Web(env, workers=args.delay_workers, label=f"restart-{transport}",
                          guard=guard)  # fmt: skip
                result["restart"] = asyncio.run(restart(args, web, users, creator, broker))
                web.stop()
                web = None
    finally:
        if web:
            web.stop()
        if creator:
            creator.stop()
        if broker:
            broker.stop()
        guard.release()

    lines = [line for transport, result in results.items() for line in report(result, transport)]
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": sys.version.split()[0],
                    "loadavg_1m_before_after": [load_before[0], os.getloadavg()[0]],
                },
                "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
                "fd_limit": {"bench": limit, "web_worker": web_limit and list(web_limit)},
                "heartbeat_seconds": HEARTBEAT_SECONDS,
                "quick": args.quick,
                "transports": {
                    transport: {
                        "held_ok": streams_held(result.get("held", {}).get("steps", [])),
                        **result,
                    }
                    for transport, result in results.items()
                },
                "table": lines,
            },
            indent=1,
        )
    )
    png = out.with_suffix(".png")
    plot(results, png)
    say(f"\nraw numbers: {out}\nplot: {png}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as exc:
        say(f"\nbench: interrupted ({exc or 'SIGINT'}); everything it started is stopped")
        sys.exit(130)
