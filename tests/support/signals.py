"""A domain signal's sends, as a test reads them."""

import contextlib

from django.dispatch import Signal


@contextlib.contextmanager
def signals_sent(signal: Signal, *arguments: str, uid: str):
    """The sends of `signal` during the block, each the tuple of its `arguments`."""
    sent: list[tuple] = []

    def receiver(sender, **named):
        sent.append(tuple(named[name] for name in arguments))

    signal.connect(receiver, weak=False, dispatch_uid=uid)
    try:
        yield sent
    finally:
        signal.disconnect(dispatch_uid=uid)
