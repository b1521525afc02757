"""The dispatcher: it wakes a kind's workers while that kind has due jobs that no attempt
holds (docs/architecture.md, "The job"). A wake-up is a message of the kind's task on the
kind's queue, carrying nothing: the task claims whatever is due when it runs. A lost, late
or repeated wake-up costs latency, never work: a job still due SHOPFLOW_WAKE_AGAIN_SECONDS
after its wake-up is woken again."""

import logging
import math
import threading

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from core import clock
from core.liveness import liveness_heartbeat

from . import locks
from .celery import app
from .tasks_base import job_tasks

logger = logging.getLogger(__name__)

# After a tick the broker or the database refused, the dispatcher waits this long.
FAILURE_PAUSE_SECONDS = 5.0
RECONNECT_ONCE = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}


class Dispatcher:
    """What one dispatcher process has woken: {job's state: when}. A job is known by its
    primary key, due time and lease: a retry (a new due time) or a lost attempt (a lease
    that ran out) is due work of its own, woken at once."""

    def __init__(self):
        self.woken: dict[tuple, float] = {}

    def tick(self) -> int:
        """Wake every kind that has due jobs not woken in the last WAKE_AGAIN seconds:
        ceil(jobs / batch) wake-ups, one for each job whose last attempt lost its worker
        (claimed alone), at most WAKE_AHEAD batches' worth of a kind's jobs at a time.
        Returns the wake-ups sent; raises the database's or the broker's error (nothing is
        counted as woken then)."""
        now, again = clock.monotonic(), settings.SHOPFLOW_WAKE_AGAIN_SECONDS
        wakeups: list[str] = []
        seen: dict[tuple, float] = {}
        # One look for them all (an idle shop's tick is this one query), then each kind
        # that has due jobs.
        kinds = set(locks.jobs_due().order_by().values_list("kind", flat=True).distinct())
        for kind, task in job_tasks().items():
            if kind not in kinds:
                continue
            ahead = settings.SHOPFLOW_WAKE_AHEAD * task.batch
            due = locks.jobs_claimable(kind=kind, concurrency=task.concurrency)
            due = due.order_by("due_at", "pk")
            fresh = lost = 0
            for ident in due.values_list("pk", "due_at", "lease_id")[:ahead]:
                woken_at = self.woken.get(ident)
                if woken_at is not None and now - woken_at < again:
                    seen[ident] = woken_at
                    continue
                seen[ident] = now
                if ident[2] is None:
                    fresh += 1
                else:
                    lost += 1
            wakeups += [task.name] * (math.ceil(fresh / task.batch) + lost)
        if wakeups:
            _send(wakeups)
        self.woken = seen
        return len(wakeups)


def _send(task_names: list[str]) -> None:
    """One wake-up message per name, over one producer connection (on Redis, one
    pipelined round trip). Raises the broker's error."""
    with app.producer_or_acquire() as producer, producer.batch():
        for name in task_names:
            # No time limits of the sender's: the worker runs the task under its own.
            app.send_task(
                name,
                producer=producer,
                retry=True,
                retry_policy=RECONNECT_ONCE,
                time_limit=None,
                soft_time_limit=None,
            )


def dispatch_forever(*, stop: threading.Event) -> None:
    """The dispatcher service's loop (`manage.py dispatch`) until `stop` is set: a tick
    every SHOPFLOW_DISPATCH_POLL_MS; after the database or the broker failed, a pause of
    FAILURE_PAUSE_SECONDS. Its liveness is renewed at every turn: a tick that hangs (a
    database that stopped answering) lets it lapse."""
    dispatcher = Dispatcher()
    while not stop.is_set():
        liveness_heartbeat()
        pause = settings.SHOPFLOW_DISPATCH_POLL_MS / 1000
        try:
            dispatcher.tick()
        except DatabaseError:
            logger.exception("dispatcher: the database failed; trying again shortly")
            close_old_connections()  # a broken connection is made again at the next tick
            pause = FAILURE_PAUSE_SECONDS
        except Exception:
            logger.warning("dispatcher: the broker failed; trying again shortly", exc_info=True)
            pause = FAILURE_PAUSE_SECONDS
        stop.wait(pause)
