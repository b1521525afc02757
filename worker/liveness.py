"""A worker's liveness (core.liveness; docs/operations.md, "Health"): its consumer's loop
vouches for it, so a worker whose main loop is stuck lapses and one whose pool is busy
with long tasks does not. The consumer's timer asks the loop itself to vouch (`call_soon`):
on the event loop (prefork or threads on Redis or RabbitMQ) the timer is that loop's own;
without one (eventlet, gevent) it is a thread of its own, and the vouch waits for the loop
to drain it. Waiting for the broker (at start, and while the consumer reconnects) is no
reason to restart a worker: it vouches for the wait at once."""

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
