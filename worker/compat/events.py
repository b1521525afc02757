"""Celery's events (what Flower and the worker heartbeats ride on), each publication
bounded; the app uses them (worker.celery: `events=`).

Works around https://github.com/celery/celery/pull/4804: since then Celery's worker
heartbeat publishes with `retry=True` and no retry policy, which kombu takes as retries
without limit, holding a worker's whole loop while its broker is out of reach. Here a
publication that names no policy tries to reconnect once; an event it could not send waits
in the dispatcher's buffer for the next one that gets through. Public hooks only, but it
changes what Celery's heartbeat asks for, so it is fenced here all the same.

Canary: tests/worker/compat/test_events.py, whose test of Celery's heartbeat fails once
it names a bounded policy itself; then this module goes (and worker.celery's `events=`)."""

from celery.app.events import Events as CeleryEvents
from celery.events.dispatcher import EventDispatcher

from . import version_guard

version_guard("celery", checked=("5.7.0", "5.8"), patch=__name__)

# One reconnection, at once: with the broker's timeouts (CELERY_BROKER_TRANSPORT_OPTIONS,
# CELERY_BROKER_CONNECTION_TIMEOUT) a publication gives up within about 10 s.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 1}


class BoundedEventDispatcher(EventDispatcher):
    def send(self, type, *args, retry_policy=None, **fields):
        return super().send(
            type, *args, retry_policy=retry_policy or PUBLISH_RETRY_POLICY, **fields
        )


class Events(CeleryEvents):
    """The app's events (`Celery(events=...)`), with that dispatcher."""

    dispatcher_cls = "worker.compat.events:BoundedEventDispatcher"
