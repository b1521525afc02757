"""One deadline for a whole outbound call (SMTP, a webhook, a Web Push, and the DNS before
each). A socket's timeout bounds each read, not the call: a peer that trickles a byte at a
time holds it for ever. Inside `with Deadline(...)` each socket the thread connects is
shut down when the deadline passes, so a blocked connect, send or read returns at once, and
the block raises DeadlineExceeded, whatever it returned. What may block where there is no
socket to cut (getaddrinfo) goes through `call`: a helper thread, abandoned at the deadline."""

import contextlib
import socket
import sys
import threading
from concurrent.futures import Future, wait

from core import clock

_current = threading.local()  # the thread's innermost deadline
_hook_lock = threading.Lock()
_hooked = False


class DeadlineExceeded(TimeoutError):
    """An outbound call cut at its deadline."""


class Deadline:
    def __init__(self, seconds: float, *, about: str):
        self.about, self.seconds = about, max(seconds, 0.0)
        self.at = clock.monotonic() + seconds
        self.passed = False  # its sockets were cut
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._on_cut: list = []
        self._over = False

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"{self.about}: cut at its {self.seconds:.1f} s deadline")

    def left(self) -> float:
        """Seconds left; DeadlineExceeded when none are."""
        left = self.at - clock.monotonic()
        if left <= 0:
            raise self.exceeded()
        return left

    def call(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) in a daemon thread, waited for until the deadline at most. The
        thread runs under the caller's deadline: inside `with`, its sockets are cut too."""
        future, timeout, carried = Future(), self.left(), getattr(_current, "deadline", None)

        def run():
            _current.deadline = carried
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # raised in the caller's thread instead
                future.set_exception(exc)

        thread = threading.Thread(target=run, name=f"deadline: {self.about}", daemon=True)
        thread.start()
        if not wait([future], timeout=timeout).done:
            self._cut()  # now, not at the timer's tick: the thread connects nothing more
            raise self.exceeded()  # the thread ends when getaddrinfo does, unwaited for
        thread.join()
        return future.result()

    def on_cut(self, fn) -> None:
        """Call fn() too, from the timer's thread, when the deadline passes."""
        self._on_cut.append(fn)

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down when the deadline passes; DeadlineExceeded if it has. Through a
        duplicate of its descriptor: a TLS wrap detaches the socket object it wraps."""
        with self._lock:
            if self.passed or self._over:
                raise self.exceeded()
            self._sockets.append(socket.fromfd(sock.fileno(), sock.family, sock.type))

    def _cut(self) -> None:
        with self._lock:
            if self.passed:
                return
            self.passed = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):  # not connected, or no more
                    sock.shutdown(socket.SHUT_RDWR)
        for fn in self._on_cut:
            fn()

    def __enter__(self) -> "Deadline":
        _hook()
        self._timer = threading.Timer(self.left(), self._cut)
        self._timer.daemon = True
        self._timer.start()
        self._outer, _current.deadline = getattr(_current, "deadline", None), self
        return self

    def __exit__(self, kind, exc, tb) -> None:
        _current.deadline = self._outer
        self._timer.cancel()
        self._timer.join()  # a cut under way ends first
        with self._lock:
            self._over = True
            for sock in self._sockets:
                sock.close()  # the duplicate only
            self._sockets.clear()
        # Whatever the block raised (an interrupt aside) or returned: a read cut short may
        # look like the end of what it read. An error raised once the time is up is the
        # deadline's too: a socket's own timeout (its backstop) may fire before the timer's
        # thread has run, on a busy machine.
        interrupted = exc is not None and not isinstance(exc, Exception)
        over = self.passed or (exc is not None and clock.monotonic() >= self.at)
        if over and not interrupted and not isinstance(exc, DeadlineExceeded):
            raise self.exceeded() from exc


def _audit(event: str, args: tuple) -> None:
    # Raised before every connect, whichever library makes it (urllib3, smtplib): the one
    # place all of a call's sockets pass, before any TLS wraps them.
    if event == "socket.connect" and getattr(_current, "deadline", None) is not None:
        _current.deadline.watch(args[0])


def _hook() -> None:
    """The audit hook, added at a process's first deadline: a process that makes no
    outbound call never runs it (a hook cannot be removed)."""
    global _hooked
    with _hook_lock:
        if not _hooked:
            sys.addaudithook(_audit)
            _hooked = True
