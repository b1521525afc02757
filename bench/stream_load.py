"""The load of bench/streams.py: users and their notifications, created in this process,
and the live connections that receive them, each stamped on arrival (the clients are the
tests' own, tests/support/streams.py), all timed on one clock (time.perf_counter)."""

import asyncio
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import percentiles
from common import say

from tests.support.streams import SocketClient, SseClient

STREAM_PATH = "/api/notifications/stream/"
TRANSPORTS = ("websocket", "sse")
USERS = 50


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

        from notifications.services import inbox

        committed: list[float] = []
        with transaction.atomic():
            # Registered before the notification's own publish, so it runs first after
            # the commit: the time of the commit itself, not of the PUBLISH after it.
            transaction.on_commit(lambda: committed.append(time.perf_counter()))
            rows = inbox.notifications_create(
                recipient_ids=user_ids, kind="message", message=message
            )
        return [row.pk for row in rows], committed[0]

    def create(self, user_ids: list[int], message: str) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.executor, self.create_now, user_ids, message)

    def stop(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class Connection:
    """One live connection of a user, WebSocket or Server-Sent Events, and what reached
    it: {notification id: perf_counter at arrival}."""

    def __init__(self, transport: str, user_id: int, token: str):
        self.transport, self.user_id, self.token = transport, user_id, token
        self.received: dict[int, float] = {}
        self.duplicates = 0
        self.heartbeats = 0  # SSE's comments; a WebSocket has none (uvicorn pings it)
        self.error = ""
        if transport == "sse":
            self.client = SseClient(on_event=self._event)
        else:
            self.client = SocketClient(on_event=self._frame)

    @property
    def open(self) -> bool:
        return self.client.open

    @property
    def task(self) -> asyncio.Task | None:
        return self.client.task

    async def connect(self, port: int, timeout: float) -> bool:
        try:
            if self.transport == "sse":
                headers = {"Authorization": f"Token {self.token}", "Accept": "text/event-stream"}
                url = f"http://127.0.0.1:{port}{STREAM_PATH}"
                if not await self.client.connect(url, headers, timeout):
                    self.error = self.client.error or f"HTTP {self.client.status}"
                    return False
                return True
            from notifications.services.stream_tokens import stream_token_issue

            # A socket takes each stream token once: one of its own, as a page's would.
            token = stream_token_issue(user=SimpleNamespace(pk=self.user_id))
            url = f"ws://127.0.0.1:{port}/ws/notifications/?token={token}"
            await self.client.connect(url, timeout=timeout)
            return True
        except Exception as exc:  # websockets' handshake errors too
            self.error = type(exc).__name__
            return False

    def _arrived(self, notification_id: int, at: float) -> None:
        if notification_id in self.received:
            self.duplicates += 1
        else:
            self.received[notification_id] = at

    def _event(self, event) -> None:
        if event.comment:
            self.heartbeats += 1
        elif event.id:
            self._arrived(int(event.id), event.at)

    def _frame(self, frame: dict, at: float) -> None:
        if frame.get("type") == "notification":
            self._arrived(frame["id"], at)

    def close(self) -> None:
        self.client.close()


class Pool:
    """Streams to one web service, spread round-robin over the users."""

    def __init__(self, port: int, users: list[tuple[int, str]], transport: str):
        self.port = port
        self.users = users
        self.transport = transport
        self.streams: list[Connection] = []
        self.failed: list[Connection] = []

    def alive(self) -> list[Connection]:
        return [s for s in self.streams if s.open]

    def of_user(self, user_id: int) -> list[Connection]:
        return [s for s in self.streams if s.open and s.user_id == user_id]

    async def open_up_to(self, total: int, concurrency: int = 64, timeout: float = 30) -> dict:
        """Open streams until `total` were tried; returns how that went."""
        first = len(self.streams) + len(self.failed)
        users = [self.users[n % len(self.users)] for n in range(first, total)]
        new = [Connection(self.transport, *user) for user in users]
        # A bounded number of handshakes in flight: a burst of thousands of SYNs would
        # measure the listen backlog, not the server.
        gate = asyncio.Semaphore(concurrency)
        done = 0

        async def one(stream: Connection) -> bool:
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


async def wait_delivered(streams_by_id: dict[int, list[Connection]], timeout: float) -> None:
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
        "p50_ms": percentiles.pct(delays, 50),
        "max_ms": round(max(delays), 1) if delays else None,
    }
