"""A peer that never finishes answering: a TCP server on loopback that sends `prefix` on each
connection, then one byte a second, each within any socket timeout, for as long as the
client listens. What a deadline on a whole outbound call is for."""

import contextlib
import socket
import threading


class TrickleServer:
    """`with TrickleServer(prefix=b"...") as server:` on 127.0.0.1:`server.port`."""

    def __init__(self, prefix: bytes = b"", *, every: float = 1.0):
        self.prefix, self.every = prefix, every
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> "TrickleServer":
        self._start(self._accept)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close does not)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed
            while not self._stop.is_set():
                connection, _ = self._listener.accept()
                self._start(self._trickle, connection)

    def _trickle(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):  # the client went away
            connection.settimeout(self.every)
            with contextlib.suppress(TimeoutError):
                connection.recv(65536)  # the request, if one comes
            connection.sendall(self.prefix)
            while not self._stop.wait(self.every):
                connection.sendall(b"x")
