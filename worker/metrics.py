"""What the workers and the broker tell Prometheus (core.metrics serves it): task runs,
counted from Celery's signals in the worker processes; the jobs' backlog by kind and each
queue's state, read at scrape time. A worker container may serve its own counts
(SHOPFLOW_WORKER_METRICS_PORT, docs/monitoring.md "Scraping it")."""

import logging
import os

from django.conf import settings
from django.db.models import Count, F, Max, Q
from django.db.models.functions import Now
from prometheus_client import CollectorRegistry, Counter, multiprocess
from prometheus_client import start_http_server as serve_metrics
from prometheus_client.core import GaugeMetricFamily

from .models import Job, held_by_an_attempt
from .queues import queue_states
from .tasks_base import job_tasks

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


class JobCollector:
    """The work backlog by kind, at scrape time, by the database's clock: jobs pending (due
    later ones too: an order's side effects not done yet), of them those due that no
    attempt holds (the dispatcher's to wake) and those leased (running), jobs failed (the
    dead letters), and how long the longest-due job has waited. One query on the pending
    jobs' index, one on the failed ones'."""

    def collect(self):
        held, due_now = held_by_an_attempt(), Q(due_at__lte=Now())
        rows = (
            Job.objects.filter(status=Job.Status.PENDING)
            .values_list("kind")
            .annotate(
                n=Count("id"),
                due=Count("id", filter=due_now & ~held),
                leased=Count("id", filter=held),
                waited=Max(Now() - F("due_at"), filter=due_now & ~held),
            )
            .order_by()
        )
        failed = dict(
            Job.objects.filter(status=Job.Status.FAILED)
            .values_list("kind")
            .annotate(n=Count("id"))
            .order_by()
        )
        kinds = dict.fromkeys(job_tasks(), 0) | dict.fromkeys(failed, 0)
        pending = GaugeMetricFamily(
            "shopflow_jobs_pending", "Jobs not ended, due later ones too.", labels=["kind"]
        )
        due = GaugeMetricFamily(
            "shopflow_jobs_due", "Jobs due that no attempt holds.", labels=["kind"]
        )
        leased = GaugeMetricFamily(
            "shopflow_jobs_running", "Jobs an attempt holds.", labels=["kind"]
        )
        oldest = GaugeMetricFamily(
            "shopflow_jobs_oldest_due_age_seconds",
            "How long the longest-due job no attempt holds has waited (0: none).",
            labels=["kind"],
        )
        dead = GaugeMetricFamily("shopflow_jobs_failed", "Jobs failed for good.", labels=["kind"])
        seen = set()
        for kind, n_pending, n_due, n_leased, waited in rows:
            seen.add(kind)
            pending.add_metric([kind], n_pending)
            due.add_metric([kind], n_due)
            leased.add_metric([kind], n_leased)
            oldest.add_metric([kind], max(waited.total_seconds(), 0.0) if waited else 0.0)
        for kind in kinds:
            if kind not in seen:
                for family in (pending, due, leased, oldest):
                    family.add_metric([kind], 0)
            dead.add_metric([kind], failed.get(kind, 0))
        yield from (pending, due, leased, oldest, dead)


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
