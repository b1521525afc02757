import os

from celery import Celery, bootsteps, signals

from core.env import settings_module
from core.liveness import MARK_EVERY_SECONDS, WAITING_SECONDS, liveness_heartbeat
from core.telemetry import telemetry_flush, telemetry_start
from worker.compat.beat_stop import beat_stop_install

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())

# Events (Flower's, the worker heartbeats) with bounded publications; connections to Redis
# on a transport that survives a cut link: patches of Celery's and kombu's (worker.compat).
app = Celery(
    "shopflow", events="worker.compat.events:Events", amqp="worker.compat.redis_close:AMQP"
)
# All Celery settings live in Django settings, prefixed CELERY_.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class LivenessHeartbeat(bootsteps.StartStopStep):
    """A worker's liveness (core.liveness; docs/operations.md, "Health"): its consumer's
    loop writes its heartbeat, so a worker whose main loop is stuck lapses and one whose
    pool is busy with long tasks does not. The consumer's timer asks the loop itself to
    beat (`call_soon`): on the event loop (prefork or threads on Redis or RabbitMQ) the
    timer is that loop's own; without one (eventlet, gevent) it is a thread of its own, and
    the heartbeat waits for the loop to drain it. Waiting for the broker (at start, and
    while the consumer reconnects) is no reason to restart a worker: its heartbeat covers
    the wait at once."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    ticks = None  # the timer's entry, while started

    def start(self, c):
        self.ticks = c.timer.call_repeatedly(MARK_EVERY_SECONDS, c.call_soon, (liveness_heartbeat,))

    def stop(self, c):
        if self.ticks is not None:
            self.ticks.cancel()
        self.ticks = None
        liveness_heartbeat(seconds=WAITING_SECONDS)

    shutdown = stop


app.steps["consumer"].add(LivenessHeartbeat)


@signals.worker_init.connect(dispatch_uid="worker.liveness.start_up")
def heartbeat_at_start_up(**kwargs):
    liveness_heartbeat(seconds=WAITING_SECONDS)


@signals.worker_process_init.connect(dispatch_uid="worker.start_telemetry_in_pool_process")
def start_telemetry_in_pool_process(**kwargs):
    """Each prefork pool process exports its own spans (an exporter's thread does not
    survive a fork, and none runs in the forking parent)."""
    telemetry_start("worker")


@signals.worker_process_shutdown.connect(dispatch_uid="worker.flush_telemetry_of_pool_process")
def flush_telemetry_of_pool_process(**kwargs):
    """A pool process ends with os._exit, past the SDK's atexit flush: the spans of its
    last tasks (up to OTEL_BSP_SCHEDULE_DELAY's worth) would be lost."""
    telemetry_flush()


@signals.worker_init.connect(dispatch_uid="worker.start_telemetry_in_thread_pool_worker")
def start_telemetry_in_thread_pool_worker(sender=None, **kwargs):
    """A worker without pool processes (threads: the mail worker) runs its tasks here."""
    if "prefork" not in str(getattr(sender, "pool_cls", "")).lower():
        telemetry_start("worker")


@signals.beat_init.connect(dispatch_uid="worker.start_telemetry_in_beat")
def start_telemetry_in_beat(**kwargs):
    telemetry_start("beat")


@signals.beat_init.connect(dispatch_uid="worker.stop_beat_outside_its_statements")
def stop_beat_outside_its_statements(**kwargs):
    """After Celery's own SIGTERM handler, one that does no I/O (worker.compat.beat_stop).
    A receiver of its own: Celery runs each receiver whatever the others raise."""
    beat_stop_install()


@signals.task_prerun.connect(dispatch_uid="worker.close_stale_connections.prerun")
@signals.task_postrun.connect(dispatch_uid="worker.close_stale_connections.postrun")
def close_stale_connections(task=None, **kwargs):
    """Keep database connections across tasks, as Django keeps them across requests: close
    only those past CONN_MAX_AGE or broken by an error. Celery's Django fixup would close
    every connection before and after every task (a new PostgreSQL backend each time);
    CELERY_DB_REUSE_MAX in the settings stands it down."""
    if task is not None and task.request.is_eager:
        return  # task.apply() runs in its caller's thread, maybe in its transaction
    from django.db import close_old_connections

    close_old_connections()
