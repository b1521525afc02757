"""What side effects tell Prometheus (core.metrics serves it): how long each took from the
checkout to done, counted in the worker processes. Those pending and failed are their
kinds' jobs' (worker.metrics: shopflow_jobs_pending, shopflow_jobs_failed)."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from prometheus_client import Histogram

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
