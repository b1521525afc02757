"""A worker's liveness (core.liveness): its consumer's loop vouches for it.

The consumer's timer asks the loop itself to vouch (`call_soon`): on the prefork pool's
event loop the timer is that loop's own; on the thread pool it is a thread of its own, and
the vouch waits for the loop to drain it. So a worker whose main loop is stuck lapses,
and one whose pool is busy with long tasks does not: the main loop keeps turning.

While the consumer is stopped to reconnect to the broker, the worker vouches for the
reconnection at once: waiting for a broker is no reason to restart it."""

from celery import bootsteps, signals

from core.liveness import MARK_EVERY_SECONDS, START_SECONDS, liveness_vouch

# A worker that has not reconnected by then is restarted by its orchestrator.
RECONNECT_SECONDS = 15 * 60.0


class LivenessVoucher(bootsteps.StartStopStep):
    """The consumer's step that vouches for the worker while its loop turns."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs):
        self.ticks = None
        super().__init__(c, **kwargs)

    def start(self, c):
        self.ticks = c.timer.call_repeatedly(MARK_EVERY_SECONDS, c.call_soon, (liveness_vouch,))

    def stop(self, c):
        if self.ticks is not None:
            self.ticks.cancel()
        self.ticks = None
        liveness_vouch(seconds=RECONNECT_SECONDS)

    shutdown = stop


def vouch_for_start_up(**kwargs) -> None:
    liveness_vouch(seconds=START_SECONDS)


def connect() -> None:
    signals.worker_init.connect(vouch_for_start_up, dispatch_uid="worker.liveness.start_up")
