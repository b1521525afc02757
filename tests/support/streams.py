"""Clients of the live notification channels on real sockets, for the tests. SseClient
(Server-Sent Events) and SocketClient (WebSocket) run on asyncio, one socket and one task
each, so that one process holds thousands; each hands every event it reads, with its
arrival time (time.perf_counter), to its `on_event`. EventStream and NotificationSocket
run them on a thread of their own for the synchronous tests."""

import asyncio
import contextlib
import json
import queue
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class ServerSentEvent:
    id: str = ""
    event: str = "message"
    data: str = ""
    comment: str = ""
    at: float = 0.0  # time.perf_counter() when it arrived

    def json(self):
        return json.loads(self.data)


def _ignore(*_args) -> None:
    pass


class SseClient:
    """One Server-Sent Events connection, by hand over asyncio streams (a client library
    would cost more per stream than the server does). `on_event(event)` gets each event
    and each comment; `on_end()` is called once the stream is over."""

    def __init__(self, on_event=_ignore, on_end=_ignore):
        self.on_event, self.on_end = on_event, on_end
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""  # of an answer other than 200
        self.error = ""
        self.open = False
        self.listening = asyncio.Event()  # the first block came (see connect)
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task | None = None

    async def connect(self, url: str, headers: dict | None = None, timeout: float = 10) -> bool:
        """True once the stream answered 200 and sent its first block ("retry:"), which
        it sends once it listens: from then on, whatever is committed reaches it. Else
        False, with `status` and `body`, or `error`."""
        parts = urlsplit(url)
        lines = [
            f"GET {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1",
            f"Host: {parts.netloc}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        try:
            reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, parts.port), timeout
            )
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await asyncio.wait_for(self._head(reader), timeout)
            if self.status != 200:
                self.body = await asyncio.wait_for(self._body(reader), timeout)
                self.close()
                return False
            self.open = True
            self.task = asyncio.create_task(self._read(reader))
            await asyncio.wait_for(self.listening.wait(), timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            self.error = self.error or type(exc).__name__
        if self.error:
            self.close()
            return False
        return True

    async def _head(self, reader: asyncio.StreamReader) -> None:
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        self.status = int(status_line.split(" ", 2)[1])
        for line in lines:
            name, _, value = line.partition(":")
            if value:
                self.headers[name.strip().lower()] = value.strip()

    @property
    def chunked(self) -> bool:
        return self.headers.get("transfer-encoding", "").lower() == "chunked"

    async def _chunks(self, reader: asyncio.StreamReader):
        while size := int((await reader.readline()).split(b";")[0] or b"0", 16):
            yield (await reader.readexactly(size + 2))[:-2]

    async def _body(self, reader: asyncio.StreamReader) -> bytes:
        if self.chunked:
            return b"".join([chunk async for chunk in self._chunks(reader)])
        if "content-length" in self.headers:
            return await reader.readexactly(int(self.headers["content-length"]))
        return await reader.read()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        async def raw():
            while data := await reader.read(65536):
                yield data

        buffer = b""
        try:
            async for data in self._chunks(reader) if self.chunked else raw():
                now = time.perf_counter()
                *blocks, buffer = (buffer + data).split(b"\n\n")
                for block in blocks:
                    self._block(block.decode(), now)
            self.error = "closed by the server"
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.error = type(exc).__name__
        finally:
            self.open = False
            self.listening.set()
            self.on_end()

    def _block(self, block: str, now: float) -> None:
        self.listening.set()
        event = ServerSentEvent(at=now)
        for line in block.split("\n"):
            if line.startswith(":"):
                self.on_event(ServerSentEvent(comment=line[1:].strip(), at=now))
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                event.data += value
            elif name in ("id", "event"):
                setattr(event, name, value)
        if event.data or event.id:
            self.on_event(event)

    def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.writer:
            self.writer.close()
        self.open = False


class SocketClient:
    """One WebSocket (the websockets library's asyncio client), sending the Origin a page
    of the site would. `on_event(frame, at)` gets each frame, decoded; `on_end()` is called
    once the socket is closed, with `close_code` set."""

    def __init__(self, on_event=_ignore, on_end=_ignore):
        self.on_event, self.on_end = on_event, on_end
        self.error = ""
        self.open = False
        self.close_code: int | None = None
        self.connection = None
        self.task: asyncio.Task | None = None

    async def connect(self, url: str, headers=None, timeout: float = 10, origin="") -> None:
        """Open the socket; `origin`: "" for the site's own, None for none (no browser).
        A refused handshake raises websockets' own error (InvalidStatus ...)."""
        from websockets.asyncio.client import connect

        parts = urlsplit(url)
        if origin == "":
            origin = f"http://{parts.hostname}:{parts.port}"
        # ping_interval None: uvicorn pings the socket, the client answers.
        self.connection = await asyncio.wait_for(
            connect(url, origin=origin, additional_headers=headers, ping_interval=None), timeout
        )
        self.open = True
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                self.on_event(json.loads(message), time.perf_counter())
            self.error = f"closed by the server ({self.connection.close_code})"
        except Exception as exc:
            self.error = type(exc).__name__
        finally:
            self.open = False
            self.close_code = self.connection.close_code
            self.on_end()

    async def send(self, payload) -> None:
        await self.connection.send(payload if isinstance(payload, str) else json.dumps(payload))

    def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.connection:
            self.connection.transport.abort()
        self.open = False


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def on_loop(call, timeout: float = 60):
    """Run a coroutine (or a plain callable) on the clients' event loop, a thread of this
    process started on first use, and return its result."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="live-clients", daemon=True).start()
    if not asyncio.iscoroutine(call):
        call = _as_coroutine(call)
    return asyncio.run_coroutine_threadsafe(call, _loop).result(timeout)


async def _as_coroutine(call):
    return call()


class EventStream:
    """An SseClient for a synchronous test: its events queued as they arrive."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.events: queue.Queue[ServerSentEvent] = queue.Queue()
        self.ended = threading.Event()  # the server ended the response
        self.client = SseClient(on_event=self.events.put, on_end=self.ended.set)
        on_loop(self.client.connect(url, headers, timeout=30))
        self.status = self.client.status
        self.content_type = self.client.headers.get("content-type", "")
        self.body = self.client.body

    def next_event(self, timeout: float = 10.0, *, comments: bool = False) -> ServerSentEvent:
        """The next event (skipping comments unless asked); AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self.events.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise AssertionError(f"no event within {timeout} s") from None
            if comments or not event.comment:
                return event

    def close(self) -> None:
        with contextlib.suppress(Exception):
            on_loop(self.client.close, timeout=10)


class NotificationSocket:
    """A SocketClient for a synchronous test: its frames queued as they arrive."""

    def __init__(self, url: str, *, origin: str | None = "", headers=None):
        """`origin`: "" for the site's own (as its pages send), None for none (no browser)."""
        self.frames: queue.Queue[dict] = queue.Queue()
        self.ended = threading.Event()
        self.client = SocketClient(
            on_event=lambda frame, _at: self.frames.put(frame), on_end=self.ended.set
        )
        on_loop(self.client.connect(url, headers, timeout=10, origin=origin))

    def next_frame(self, timeout: float = 10) -> dict:
        """The next frame, decoded; AssertionError when none comes within `timeout`."""
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no frame within {timeout} s") from None

    def send(self, payload) -> None:
        on_loop(self.client.send(payload), timeout=10)

    def close_code(self, timeout: float = 10) -> int:
        """The code the server closed the socket with (frames before it are skipped)."""
        if not self.ended.wait(timeout):
            raise AssertionError(f"the socket is still open after {timeout} s")
        return self.client.close_code

    def close(self) -> None:
        with contextlib.suppress(Exception):
            on_loop(self.client.close, timeout=10)


class LiveOverSocket:
    """A person's live notifications over the WebSocket (a stream token in the URL)."""

    transport = "websocket"

    def __init__(self, base: str, user, last_id: int | None = None):
        from notifications.services.stream_tokens import stream_token_issue

        query = f"?token={stream_token_issue(user=user)}"
        query += f"&last_id={last_id}" if last_id is not None else ""
        self.socket = NotificationSocket(base.replace("http", "ws") + "/ws/notifications/" + query)

    def next(self, timeout: float = 10) -> dict:
        """The next frame: {"type": "notification" or "receipt", ...}."""
        return self.socket.next_frame(timeout)

    def close(self) -> None:
        self.socket.close()


class LiveOverStream:
    """A person's live notifications over Server-Sent Events (their API token)."""

    transport = "sse"

    def __init__(self, base: str, user, last_id: int | None = None):
        from rest_framework.authtoken.models import Token

        headers = {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        self.stream = EventStream(base + "/api/notifications/stream/", headers)
        assert self.stream.status == 200, self.stream.body

    def next(self, timeout: float = 10) -> dict:
        """The next event, as the socket's frame: {"type": its event name, ...its data}."""
        event = self.stream.next_event(timeout)
        return {"type": event.event, **event.json()}

    def close(self) -> None:
        self.stream.close()
