"""What the workers and the broker tell Prometheus (core.metrics serves it): task runs,
counted from Celery's signals in the worker processes; the outbox backlog and each queue's
state, read at scrape time. A worker container may serve its own counts
(SHOPFLOW_WORKER_METRICS_PORT, docs/monitoring.md "Scraping it")."""

import logging
import os

from django.conf import settings
from django.db.models import Count, Max
from django.db.models.functions import Coalesce, Now
from prometheus_client import CollectorRegistry, Counter, multiprocess
from prometheus_client import start_http_server as serve_metrics
from prometheus_client.core import GaugeMetricFamily

from . import locks
from .queues import queue_states

logger = logging.getLogger(__name__)

TASK_RUNS = Counter(
    "shopflow_task_runs",
    "Task runs that ended, by task, queue and outcome (success, failure, retry, ...).",
    ["task", "queue", "outcome"],
)


def task_ended(task, state=None, **kwargs) -> None:
    queue = (task.request.delivery_info or {}).get("routing_key") or ""
    TASK_RUNS.labels(task.name, queue, (state or "unknown").lower()).inc()


def serve_worker_metrics(sender=None, **kwargs) -> None:
    """worker_ready: serve this container's counts (every process of it, which needs
    PROMETHEUS_MULTIPROC_DIR) on SHOPFLOW_WORKER_METRICS_PORT, without credentials: a
    port of the compose network, never published."""
    port = settings.SHOPFLOW_WORKER_METRICS_PORT
    if not port:
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        logger.warning("SHOPFLOW_WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR: not served")
        return
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    serve_metrics(int(port), registry=registry)
    logger.info("worker metrics on port %s", port)


class OutboxCollector:
    """The outbox rows due and not yet published (the relay's backlog), and how long the
    oldest of them has been due, by the database's clock."""

    def collect(self):
        backlog = locks.outbox_rows_due().aggregate(
            rows=Count("id"), waited=Max(Now() - Coalesce("not_before", "created_at"))
        )
        age = backlog["waited"].total_seconds() if backlog["waited"] else 0.0
        yield GaugeMetricFamily(
            "shopflow_outbox_backlog",
            "Outbox rows due and not yet published.",
            value=backlog["rows"],
        )
        yield GaugeMetricFamily(
            "shopflow_outbox_oldest_unpublished_age_seconds",
            "How long the oldest outbox row due and unpublished has been due (0: none).",
            value=max(age, 0.0),
        )


class QueueCollector:
    """Each queue the project routes to, consumed or not, as the broker holds it at scrape
    time (worker.queues.queue_states): its ready messages and the age of the oldest. An age
    the broker cannot give (RabbitMQ without its management API) is left out, not made 0."""

    def collect(self):
        messages = GaugeMetricFamily(
            "shopflow_queue_messages",
            "Messages of a queue ready for a worker.",
            labels=["queue", "state"],
        )
        oldest = GaugeMetricFamily(
            "shopflow_queue_oldest_message_age_seconds",
            "Since the oldest ready message of a queue was published (0: none ready).",
            labels=["queue"],
        )
        names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
        for name, state in queue_states(names=names).items():
            messages.add_metric([name, "ready"], state.ready)
            if state.oldest_ready_age_seconds is not None or not state.ready:
                oldest.add_metric([name], state.oldest_ready_age_seconds or 0.0)
        yield from (messages, oldest)
