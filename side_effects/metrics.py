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

    def observe():
        LAG.labels(kind).observe(max((timezone.now() - opened_at).total_seconds(), 0.0))

    # robust: a count that fails is logged, never the task's failure
    transaction.on_commit(observe, robust=True)


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
        for name, doc, by_kind in (
            ("pending", "Side effects not done yet, by kind.", {k: n for k, n, _ in pending}),
            (
                "past_deadline",
                "Side effects still pending past their deadline (the reconciler's work).",
                {kind: late for kind, _, late in pending},
            ),
            ("failed", "Side effects failed for good, by kind.", dict(failed)),
        ):
            # shopflow_side_effects_pending, _past_deadline, _failed
            gauge = GaugeMetricFamily(f"shopflow_side_effects_{name}", doc, labels=["kind"])
            for kind, value in (zeros | by_kind).items():
                gauge.add_metric([kind], value)
            yield gauge
