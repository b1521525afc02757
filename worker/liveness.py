"""A worker's liveness (core.liveness): its consumer's loop vouches for it.

The consumer's timer asks the loop itself to vouch (`call_soon`). On the event loop
(prefork or threads on Redis or RabbitMQ: a transport with one) the timer is that loop's
own; without one (eventlet, gevent) it is a thread of its own, and the vouch waits for the
loop to drain it. Either way a worker whose main loop is stuck lapses, and one whose pool
is busy with long tasks does not: the main loop keeps turning.

While it waits for the broker (at start, and while the consumer is stopped to reconnect)
the worker vouches for the wait at once: waiting for a broker is no reason to restart it."""

from celery import bootsteps

from core.liveness import MARK_EVERY_SECONDS, WAITING_SECONDS, liveness_vouch


class LivenessVoucher(bootsteps.StartStopStep):
    """The consumer's step that vouches for the worker while its loop turns."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    ticks = None  # the timer's entry, while started

    def start(self, c):
        self.ticks = c.timer.call_repeatedly(MARK_EVERY_SECONDS, c.call_soon, (liveness_vouch,))

    def stop(self, c):
        if self.ticks is not None:
            self.ticks.cancel()
        self.ticks = None
        liveness_vouch(seconds=WAITING_SECONDS)

    shutdown = stop


def vouch_for_start_up(**kwargs) -> None:
    liveness_vouch(seconds=WAITING_SECONDS)
