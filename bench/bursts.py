"""The figures of a flash sale, for bench/load.py: how far side effects fall behind during
a burst and how soon they catch up after it, and the highest steady rate a design
sustains within its objectives. Pure functions of what the load client measured."""

import math
from dataclasses import dataclass

BUCKET_SECONDS = 2.0
RECOVERED_P99_MS = 1000.0
# The service level a sustainable rate keeps (the objective).
CHECKOUT_P99_MS = 100.0
EFFECTS_P99_MS = 1000.0
QUEUE_GROWTH_PER_S = 1.0


def pct(values, p: float):
    """The nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def lag_series(lags: list[tuple[float, float]], bucket: float = BUCKET_SECONDS):
    """[(bucket start s, p99 ms, orders)] of (seconds into the phase the 201 came, lag ms)."""
    buckets: dict[int, list[float]] = {}
    for at, lag in lags:
        buckets.setdefault(int(at // bucket), []).append(lag)
    return [(n * bucket, pct(values, 99), len(values)) for n, values in sorted(buckets.items())]


def recovery_seconds(lags, *, burst_end: float, bound_ms: float = RECOVERED_P99_MS):
    """Seconds from the end of the burst until the side effects of every later order are
    back under `bound_ms` p99 (bucket by bucket); 0 when they never went over; None when
    the last bucket is still over."""
    series = [(start, p99) for start, p99, _ in lag_series(lags) if start >= burst_end]
    if not series:
        return None
    over = [start for start, p99 in series if p99 > bound_ms]
    if not over:
        return 0.0
    last_over = max(over)
    if last_over == series[-1][0]:
        return None
    return round(last_over + BUCKET_SECONDS - burst_end, 1)


def burst_figures(lags, checkouts, *, burst_end: float) -> dict:
    """The summary of a burst phase. `checkouts`: (seconds into the phase, checkout ms)."""
    after = [ms for at, ms in checkouts if at >= burst_end]
    steady = [lag for at, lag in lags if at >= burst_end]
    return {
        "burst_max_lag_ms": max((lag for _, lag in lags), default=None),
        "burst_recovery_s": recovery_seconds(lags, burst_end=burst_end),
        "steady_checkout_p99_ms": pct(after, 99),
        "steady_effects_p99_ms": pct(steady, 99),
        "lag_series": lag_series(lags),
    }


@dataclass
class Probe:
    rate: float
    checkout_p99_ms: float | None
    effects_p99_ms: float | None
    queue_growth_per_s: float | None
    errors: int
    undone: int
    checkout_only: bool  # the synchronous design: its side effects are in the checkout

    @property
    def why_not(self) -> str:
        """'' when the probe kept the objective, else what it missed."""
        if self.errors or self.undone:
            return f"{self.errors} errors, {self.undone} not done"
        if self.checkout_p99_ms is None or self.checkout_p99_ms > CHECKOUT_P99_MS:
            return f"checkout p99 {self.checkout_p99_ms or 0:.0f} ms"
        if self.checkout_only:
            return ""
        if self.effects_p99_ms is None or self.effects_p99_ms > EFFECTS_P99_MS:
            return f"side effects p99 {self.effects_p99_ms or 0:.0f} ms"
        if (self.queue_growth_per_s or 0) > QUEUE_GROWTH_PER_S:
            return f"queues grow {self.queue_growth_per_s:.1f}/s"
        return ""


def next_rate(probes: list[Probe], *, start: float, step: float, floor: float = 2.5):
    """The rate to probe next, or None when the search is over: up by `step` while the
    objective holds, then once halfway back to the last rate that held; down by halves
    when the first one fails, to `floor`."""
    if not probes:
        return start
    passed = [p.rate for p in probes if not p.why_not]
    failed = [p.rate for p in probes if p.why_not]
    if not failed:
        return probes[-1].rate + step
    lowest_failed = min(failed)
    below = [rate for rate in passed if rate < lowest_failed]
    if not below:
        lower = lowest_failed / 2
        return lower if lower >= floor else None
    best = max(below)
    middle = (best + lowest_failed) / 2
    if lowest_failed - best <= step / 2 or any(p.rate == middle for p in probes):
        return None
    return middle


def sustainable(probes: list[Probe]) -> float | None:
    """The highest probed rate that kept the objective, below every rate that did not."""
    failed = [p.rate for p in probes if p.why_not]
    ceiling = min(failed, default=float("inf"))
    kept = [p.rate for p in probes if not p.why_not and p.rate < ceiling]
    return max(kept, default=None)
