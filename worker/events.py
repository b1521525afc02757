"""Celery's events (what Flower and the worker heartbeats ride on), each publication
bounded: Celery's worker heartbeat publishes with a retry and no limit, which held a
worker's whole loop for as long as its broker was out of reach (a host cut off), and kept
it from noticing, once the link was back, that its consumer connection had died. Here a
publication tries to reconnect once; an event it could not send waits in the
dispatcher's buffer (`buffer_while_offline`) for the next one that gets through."""

from celery.app.events import Events as CeleryEvents
from celery.events.dispatcher import EventDispatcher

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

    dispatcher_cls = "worker.events:BoundedEventDispatcher"
