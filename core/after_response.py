"""Work that need not hold up the client: `run_after_response(callback)` runs it when the
server closes the response (Django's request_finished), at once outside a request
(docs/architecture.md, "The web server"). The hooks are connected in core.apps, after
Django's own request_finished receiver, which may close the request's database connection
first: the callbacks (live pushes to Redis) use none, and one that did would open another."""

import logging
import threading

logger = logging.getLogger(__name__)


class _Waiting(threading.local):
    callbacks: list | None = None  # None: not inside a request


_waiting = _Waiting()


def run_after_response(callback) -> None:
    """Run `callback()` once this request's response is out, or now outside a request.
    Never raises what the callback raises: it is logged."""
    if _waiting.callbacks is None:
        _run(callback)
    else:
        _waiting.callbacks.append(callback)


def request_began(sender=None, **kwargs) -> None:
    """request_started: from now on, callbacks wait for this request's response."""
    if _waiting.callbacks:  # a response the server never closed
        response_sent()
    _waiting.callbacks = []


def response_sent(sender=None, **kwargs) -> None:
    """request_finished: the response is out; run what waited for it."""
    callbacks, _waiting.callbacks = _waiting.callbacks or [], None
    for callback in callbacks:
        _run(callback)


def _run(callback) -> None:
    try:
        callback()
    except Exception:
        logger.exception("after the response: %r failed", callback)
