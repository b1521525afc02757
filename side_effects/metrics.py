"""What side effects tell Prometheus (core.metrics serves it): how long each took from the
checkout to done, counted in the worker processes; and at scrape time, by kind, those
pending and failed."""

from datetime import datetime

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily

from worker.models import Job

from . import registry

Status = Job.Status

# Steps of 1.5x to 2x from 5 ms to 3 s, where a shop's lag is read (a benchmark's p50 and p99
# come from these buckets), then coarse, up to 15 minutes.
_READ_MS = (5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000)
LAG = Histogram(
    "shopflow_side_effect_lag_seconds",
    "From the checkout that opened a side effect to its done mark, by kind.",
    ["kind"],
    buckets=(*(ms / 1000 for ms in _READ_MS), 5, 10, 30, 60, 300, 900),
)


def lag_observe_on_commit(*, kind: str, opened_at: datetime) -> None:
    """Observe the lag of a side effect marked done, from the checkout that opened it
    (`opened_at`), once the mark commits."""
    # robust: a count that fails is logged, never the task's failure
    transaction.on_commit(lambda: _observe(kind, opened_at), robust=True)


def _observe(kind: str, opened_at: datetime) -> None:
    lag = (timezone.now() - opened_at).total_seconds()
    LAG.labels(kind).observe(max(lag, 0.0))


class SideEffectCollector:
    """Side effects by kind: pending, failed. One query on the jobs' partial indexes, so
    a scrape reads the jobs still pending or failed, not the history."""

    def collect(self):
        counts = (
            Job.objects.filter(kind__in=registry.kinds())
            .exclude(status=Status.DONE)
            .values_list("kind", "status")
            .annotate(n=Count("id"))
            .order_by()
        )
        zeros = dict.fromkeys(registry.kinds(), 0)  # every kind, zeros too
        by_status = {Status.PENDING: dict(zeros), Status.FAILED: dict(zeros)}
        for kind, status, n in counts:
            by_status[status][kind] = n
        families = {
            Status.PENDING: (
                "shopflow_side_effects_pending",
                "Side effects not done yet, by kind.",
            ),
            Status.FAILED: (
                "shopflow_side_effects_failed",
                "Side effects failed for good, by kind.",
            ),
        }
        for status, (name, doc) in families.items():
            gauge = GaugeMetricFamily(name, doc, labels=["kind"])
            for kind, value in by_status[status].items():
                gauge.add_metric([kind], value)
            yield gauge
