"""Leases on the work a worker holds. While a worker's main process is alive and holds a
message (received and due, waiting for a pool process or running), the message's work is
leased to it for SHOPFLOW_TASK_LEASE_SECONDS, renewed every third of that; when the
worker dies or its host is cut off, the lease lapses and whoever watches the work (the
side-effect reconciler) takes it back within a minute or two, not after a deadline sized
for a backlog. A worker that is only slow keeps renewing: it is not raced.

A task takes part with the ReliableTask hook `lease_held(messages=..., until=...)`, given
the (args, kwargs) of each of its messages the worker holds. The keeper runs on the
consumer's own timer, in the event loop of the main process, as Celery's heartbeat does:
no thread runs beside the pool's forks. A message is leased on the loop's next turn after
it arrives, so one whose run ended by then costs nothing; a retry's message is leased
within a second of falling due."""

import logging
import time
from datetime import timedelta

from celery import bootsteps, signals
from celery.worker import state
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class LeaseKeeper(bootsteps.StartStopStep):
    """The consumer's step that keeps the held messages' work leased (see the module)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs):
        self.timer = None
        self.ticks = None
        self.nudged = None
        self.leased_at: dict[str, float] = {}  # request id -> when its lease was written
        super().__init__(c, **kwargs)

    def start(self, c):
        self.timer = c.timer
        self.ticks = c.timer.call_repeatedly(TICK_SECONDS, self.tick)
        signals.task_received.connect(self.on_received, sender=c, weak=False)

    def stop(self, c):
        signals.task_received.disconnect(self.on_received, sender=c)
        for entry in (self.ticks, self.nudged):
            if entry is not None:
                entry.cancel()
        self.ticks = self.nudged = None

    shutdown = stop

    def on_received(self, sender=None, request=None, **kwargs):
        if request is not None and not request.eta and self.nudged is None:
            self.nudged = self.timer.call_after(0, self.nudge)

    def nudge(self):
        self.nudged = None
        self.tick()

    def tick(self):
        """Lease the held messages never leased, and renew those leased a third of the
        lease ago."""
        seconds = settings.SHOPFLOW_TASK_LEASE_SECONDS
        now = time.monotonic()
        held = {request.id: request for request in list(state.reserved_requests)}
        self.leased_at = {key: at for key, at in self.leased_at.items() if key in held}
        due = [
            request
            for key, request in held.items()
            if now - self.leased_at.get(key, -seconds) >= seconds / 3
        ]
        if due and lease(due, seconds=seconds):
            self.leased_at.update(dict.fromkeys((request.id for request in due), now))


def lease(requests, *, seconds: float) -> bool:
    """Extend the lease of these requests' work by `seconds`, one call per task. False when
    it could not (the database is away): the next tick tries again, and meanwhile the
    lease may lapse, which only means the work is re-driven (tasks are idempotent)."""
    by_task: dict = {}
    for request in requests:
        if hasattr(request.task, "lease_held"):
            by_task.setdefault(request.task, []).append((request.args, request.kwargs))
    if not by_task:
        return True
    until = timezone.now() + timedelta(seconds=seconds)
    try:
        close_old_connections()  # one broken by an earlier error is replaced
        for task, messages in by_task.items():
            task.lease_held(messages=messages, until=until)
    except Exception:
        logger.warning("could not lease the work of %s message(s)", len(requests), exc_info=True)
        return False
    return True
