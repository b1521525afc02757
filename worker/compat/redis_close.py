"""kombu's Redis transport, with a channel that finishes closing when the link to Redis
died under the BRPOP it was waiting on; the Celery app's connections use it for redis://
URLs (worker.celery: `amqp=`).

Works around https://github.com/celery/kombu/pull/1733: since then `Channel.close` first
reads the reply of a BRPOP still in flight. On a cut link that read fails, the channel
stays open, and the consumer's close of it once the transport's client is gone raises an
`AttributeError` none of the connection errors Celery ignores: the worker exits
("Unrecoverable error"). The patch reads kombu's private `_in_poll` (a BRPOP sent, its
reply not read), which no public attribute tells.

Canary: tests/worker/compat/test_redis_close.py, whose test of kombu's own transport fails
once kombu closes such a channel itself; then this module goes (and worker.celery's
`amqp=`)."""

import logging

import kombu
from celery.app import amqp
from kombu.transport import redis

from . import version_guard

version_guard("kombu", checked=("5.7.0", "5.8"), patch=__name__)

logger = logging.getLogger(__name__)


class Channel(redis.Channel):
    def close(self):
        waiting = bool(self._in_poll)  # a BRPOP sent, its reply not read: kombu reads it first
        try:
            super().close()
        except self.connection_errors as exc:
            if self.closed or not waiting:
                raise  # not the read that stops kombu's close (callers ignore these errors)
            logger.warning(
                "the link to Redis died under a BRPOP (%r): a message Redis handed it, if"
                " any, is lost (its jobs are woken again by the dispatcher)",
                exc,
            )
            # Closed now, while the transport still knows the server. Its restore of the
            # messages held fails on the dead link too: they stay in Redis's unacknowledged
            # set, and a live worker's visibility sweep restores them.
            super().close()


class Transport(redis.Transport):
    Channel = Channel


class Connection(kombu.Connection):
    """kombu's, on this module's Transport for a redis:// URL. The transport's name stays
    "redis", so the URL it gives back (`as_uri()`, which Flower reads the broker's kind
    from) is the one it was given."""

    def get_transport_cls(self):
        if self.transport_cls == "redis":
            return Transport
        return super().get_transport_cls()


class AMQP(amqp.AMQP):
    Connection = Connection
