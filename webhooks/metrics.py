"""What webhooks tell Prometheus (core.metrics serves it): attempts' latency and ended
deliveries by endpoint and status, counted in the worker processes; and at scrape time,
by endpoint, the deliveries pending and the age of the oldest."""

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from worker.models import Job

from .models import JOB_KIND

ATTEMPT_SECONDS = Histogram(
    "shopflow_webhook_attempt_seconds",
    "How long an attempt at a webhook delivery took (to its answer, or its failure), by endpoint.",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
ENDED = Counter(
    "shopflow_webhook_deliveries_ended",
    "Webhook deliveries that ended, by endpoint and status (delivered, failed).",
    ["endpoint", "status"],
)


def attempt_observe_on_commit(*, endpoint_id: int, ms: int) -> None:
    label = str(endpoint_id)
    transaction.on_commit(lambda: ATTEMPT_SECONDS.labels(label).observe(ms / 1000), robust=True)


def ended_count_on_commit(*, endpoint_id: int, status: str, count: int = 1) -> None:
    if count:
        transaction.on_commit(
            lambda: ENDED.labels(str(endpoint_id), status).inc(count), robust=True
        )


class WebhookCollector:
    """By endpoint: deliveries pending, and the oldest one's age. One query on their jobs
    (an endpoint's id is its deliveries' concurrency key), on the pending jobs' index."""

    def collect(self):
        rows = (
            Job.objects.filter(kind=JOB_KIND, status=Job.Status.PENDING)
            .values_list("concurrency_key")
            .annotate(n=Count("pk"), oldest=Min("created_at"))
            .order_by()
        )
        pending = GaugeMetricFamily(
            "shopflow_webhook_deliveries_pending",
            "Webhook deliveries not ended yet, by endpoint.",
            labels=["endpoint"],
        )
        age = GaugeMetricFamily(
            "shopflow_webhook_oldest_pending_age_seconds",
            "Age of the oldest webhook delivery not ended yet, by endpoint.",
            labels=["endpoint"],
        )
        now = timezone.now()
        for endpoint_id, count, oldest in rows:
            pending.add_metric([str(endpoint_id)], count)
            age.add_metric([str(endpoint_id)], max((now - oldest).total_seconds(), 0.0))
        yield pending
        yield age
