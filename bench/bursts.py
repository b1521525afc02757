"""The figures of a flash sale, for bench/load.py: how far side effects fall behind during
a burst and how soon they catch up after it, and the highest steady rate a design
sustains within its objectives. Pure functions of what the load client measured and of
the stack's /metrics, scraped every BUCKET_SECONDS through the phase (bench/lag.py)."""

from dataclasses import dataclass
from itertools import pairwise

import lag
import percentiles

BUCKET_SECONDS = 2.0
RECOVERED_P99_MS = 1000.0
# The service level a sustainable rate keeps (the objective).
CHECKOUT_P99_MS = 100.0
EFFECTS_P99_MS = 1000.0
QUEUE_GROWTH_PER_S = 1.0


def checkout_series(points: list[tuple[float, float]], bucket: float = BUCKET_SECONDS):
    """[(bucket start s, p99 ms, orders)] of (seconds into the phase the 201 came, ms)."""
    buckets: dict[int, list[float]] = {}
    for at, ms in points:
        buckets.setdefault(int(at // bucket), []).append(ms)
    return [
        (n * bucket, percentiles.pct(values, 99), len(values))
        for n, values in sorted(buckets.items())
    ]


def recovery_seconds(
    series, *, burst_end: float, phase_end: float, bound_ms: float = RECOVERED_P99_MS
):
    """Seconds from the end of the burst until the side effects done are back under
    `bound_ms` p99, interval by interval of `series` (lag.series) within the phase; 0 when
    they never went over; None when the phase's last interval is still over."""
    after = [(start, p99) for start, p99, done in series if burst_end <= start < phase_end and done]
    if not after:
        return None
    over = [start for start, p99 in after if p99 > bound_ms]
    if not over:
        return 0.0
    last_over = max(over)
    if last_over == after[-1][0]:
        return None
    return round(last_over + BUCKET_SECONDS - burst_end, 1)


def burst_figures(
    scrapes: list, checkouts, *, started: float, burst_end: float, phase_end: float
) -> dict:
    """The summary of a burst phase. `scrapes`: /metrics from the phase's start to the end
    of its drain; `checkouts`: (seconds into the phase, checkout ms)."""
    series = lag.series(scrapes, started)
    after = [ms for at, ms in checkouts if at >= burst_end]
    at_end = next((s for s in scrapes if s.at - started >= burst_end), scrapes[-1])
    largest = [lag.slowest(lag.lag_by_kind(a, b), 100) for a, b in pairwise(scrapes)]
    return {
        "burst_max_lag_ms": max((v for v in largest if v is not None), default=None),
        "burst_recovery_s": recovery_seconds(series, burst_end=burst_end, phase_end=phase_end),
        "steady_checkout_p99_ms": percentiles.pct(after, 99),
        "steady_effects_p99_ms": lag.slowest(lag.lag_by_kind(at_end, scrapes[-1]), 99),
        "lag_series": series,
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
