"""What side effects tell Prometheus (core.metrics serves it): how long each took from the
checkout to done, and the reconciler's re-drives, counted in the worker processes; and
at scrape time, by kind, those pending, pending past their deadline, and failed."""

from datetime import datetime

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from core.clock import db_now

from . import registry
from .models import OrderSideEffect

Status = OrderSideEffect.Status

# Steps of 1.5x to 2x from 5 ms to 3 s, where a shop's lag is read (a benchmark's p50 and p99
# come from these buckets), then coarse, up to 15 minutes.
_READ_MS = (5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000)
LAG = Histogram(
    "shopflow_side_effect_lag_seconds",
    "From the checkout that opened a side effect to its done mark, by kind.",
    ["kind"],
    buckets=(*(ms / 1000 for ms in _READ_MS), 5, 10, 30, 60, 300, 900),
)
REDRIVES = Counter(
    "shopflow_side_effect_redrives",
    "Side effects the reconciler enqueued again past their deadline, by kind.",
    ["kind"],
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
    """Side effects by kind: pending, past their deadline, failed. Two queries, each on a
    partial index, so a scrape reads the rows still pending or failed, not the history."""

    def collect(self):
        pending = (
            OrderSideEffect.objects.filter(status=Status.PENDING)
            .values_list("kind")
            .annotate(n=Count("id"), late=Count("id", filter=Q(deadline__lt=db_now())))
            .order_by()
        )
        failed = (
            OrderSideEffect.objects.filter(status=Status.FAILED)
            .values_list("kind")
            .annotate(n=Count("id"))
            .order_by()
        )
        zeros = dict.fromkeys(registry.kinds(), 0)  # every kind, zeros too
        by_kind = {
            "pending": zeros | {kind: n for kind, n, _ in pending},
            "late": zeros | {kind: late for kind, _, late in pending},
            "failed": zeros | dict(failed),
        }
        families = {
            "pending": ("shopflow_side_effects_pending", "Side effects not done yet, by kind."),
            "late": (
                "shopflow_side_effects_past_deadline",
                "Side effects still pending past their deadline (the reconciler's work).",
            ),
            "failed": ("shopflow_side_effects_failed", "Side effects failed for good, by kind."),
        }
        for key, (name, doc) in families.items():
            gauge = GaugeMetricFamily(name, doc, labels=["kind"])
            for kind, value in by_kind[key].items():
                gauge.add_metric([kind], value)
            yield gauge
