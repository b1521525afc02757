"""Work that waits until the client has its response: `call_after_response(callback)`.

Inside a request the callback runs when the server closes the response (Django's
request_finished), so what it costs (a broker round trip, a Redis publish) is not the
client's wait. Outside a request (a Celery task, a shell) there is no response to wait
for and the caller runs it itself. The hooks are connected in core.apps."""

import logging
import threading

logger = logging.getLogger(__name__)


class _Held(threading.local):
    callbacks: list | None = None  # None: not inside a request


_held = _Held()


def call_after_response(callback) -> bool:
    """Inside a request: run `callback()` once the response is out and return True;
    outside one, return False (the caller runs it now)."""
    if _held.callbacks is None:
        return False
    _held.callbacks.append(callback)
    return True


def hold(sender=None, **kwargs) -> None:
    """request_started: from now on, callbacks wait for this request's response."""
    if _held.callbacks:  # a response the server never closed
        run_held()
    _held.callbacks = []


def run_held(sender=None, **kwargs) -> None:
    """request_finished: the response is out; run what waited for it. Never raises into
    the server."""
    callbacks, _held.callbacks = _held.callbacks or [], None
    for callback in callbacks:
        try:
            callback()
        except Exception:
            logger.exception("after the response: %r failed", callback)


def discard_held() -> None:
    """Forget what waits (tests: a response a test never closed)."""
    _held.callbacks = None
