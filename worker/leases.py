"""Leases on the work a worker holds. While a worker's main process is alive and holds a
message (received and due, waiting for a pool process or running), the message's work is
leased to it for SHOPFLOW_TASK_LEASE_SECONDS, renewed every third of that; when the
worker dies or its host is cut off, the lease lapses and whoever watches the work (the
side-effect reconciler) takes it back within a minute or two, not after a deadline sized
for a backlog. A worker that is only slow keeps renewing: it is not raced.

A task takes part with the ReliableTask hook `lease_held(messages=..., until=...)`, given
the (args, kwargs) of each of its messages the worker holds. The keeper runs on the
consumer's own timer, in the event loop of the main process, as Celery's heartbeat does:
no thread runs beside the pool's forks. A message is leased once it has been held a
second (HOLD_BEFORE_LEASE_SECONDS): most are done by then and cost no write, which
leasing every message cost about 3 to 5 ms of CPU an order at 30 orders/s
(docs/reliability.md, Leases). A worker killed within that second falls back on the
side effect's deadline (on RabbitMQ the broker gives the message back at once anyway)."""

import logging
import time
from datetime import timedelta

from celery import bootsteps
from celery.worker import state
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.5
HOLD_BEFORE_LEASE_SECONDS = 1.0


class LeaseKeeper(bootsteps.StartStopStep):
    """The consumer's step that keeps the held messages' work leased (see the module)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs):
        self.ticks = None
        self.seen_at: dict[str, float] = {}  # request id -> when a tick first saw it held
        self.leased_at: dict[str, float] = {}  # request id -> when its lease was written
        super().__init__(c, **kwargs)

    def start(self, c):
        self.ticks = c.timer.call_repeatedly(TICK_SECONDS, self.tick)

    def stop(self, c):
        if self.ticks is not None:
            self.ticks.cancel()
        self.ticks = None
        # Tasks running go on while the consumer is stopped (a broker reconnect, a warm
        # shutdown): their work stays leased for as long as they may run.
        running = list(state.active_requests)
        if running:
            lease(running, seconds=settings.CELERY_TASK_TIME_LIMIT)

    shutdown = stop

    def tick(self):
        """Lease the messages held a second and never leased, and renew those leased a
        third of the lease ago."""
        seconds = settings.SHOPFLOW_TASK_LEASE_SECONDS
        now = time.monotonic()
        held = {request.id: request for request in list(state.reserved_requests)}
        self.seen_at = {key: self.seen_at.get(key, now) for key in held}
        self.leased_at = {key: at for key, at in self.leased_at.items() if key in held}
        due = [
            request
            for key, request in held.items()
            if (
                now - self.leased_at[key] >= seconds / 3
                if key in self.leased_at
                else now - self.seen_at[key] >= HOLD_BEFORE_LEASE_SECONDS
            )
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
