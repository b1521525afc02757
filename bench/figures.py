"""The benchmark's arithmetic, pure functions: one percentile definition, the side-effect
lag read from /metrics, the recovery after a burst, the search for the highest steady rate
and the targets."""

import math
from itertools import pairwise

INF = float("inf")
# The "Fast" promise's bounds (docs/performance.md): side effects p99 at a steady rate, after a
# burst, with a slow SMTP server; the CPU and orders/s ratios against the other designs.
EFFECTS_P99_MS = 500.0
RECOVERED_P99_MS = 1000.0
RECOVERY_SECONDS = 30.0
SLOW_SMTP_P99_MS = 2000.0
CPU_RATIO = 0.45
ORDERS_RATIO = 2.0


def percentile(values, p: float) -> float | None:
    """The value at rank round(p/100 * n), at least 1, of the n values in order; None for
    none. analytics_app.selectors.percentile's definition: the page and the bench agree."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(math.floor(p / 100 * len(ordered) + 0.5), 1)  # half up
    return ordered[rank - 1]


def spread(buckets: dict[float, float]) -> list[float]:
    """The values (ms) of a Prometheus histogram's cumulative buckets {upper bound s: count},
    spread evenly over each bucket as histogram_quantile reads them; +Inf's at the highest
    finite bound."""
    values, lower, below = [], 0.0, 0.0
    for upper in sorted(buckets):
        count = round(buckets[upper] - below)
        below = buckets[upper]
        top = upper if upper != INF else lower
        values += [(lower + (top - lower) * i / count) * 1000 for i in range(1, count + 1)]
        lower = top
    return values


def lag_by_kind(before: dict, after: dict) -> dict[str, list[float]]:
    """{kind: lags in ms} of the side effects done between two scrapes, each scrape
    {kind: {upper bound s: cumulative count}}."""
    found = {}
    for kind, cumulative in after.items():
        earlier = before.get(kind, {})
        found[kind] = spread({b: n - earlier.get(b, 0.0) for b, n in cumulative.items()})
    return found


def slowest(by_kind: dict[str, list[float]], p: float) -> float | None:
    """The p-th percentile of the slowest kind: an order is done when its last side effect
    is, so its own lag is at least this."""
    found = [percentile(values, p) for values in by_kind.values()]
    return max((v for v in found if v is not None), default=None)


def series(scrapes: list[tuple[float, dict]]) -> list[tuple[float, float | None]]:
    """[(time of the first scrape, p99 ms of what was done until the next)] of successive
    (time, buckets) scrapes."""
    return [(a, slowest(lag_by_kind(ba, bb), 99)) for (a, ba), (_, bb) in pairwise(scrapes)]


def recovery_seconds(points, *, burst_end: float, bound_ms: float = RECOVERED_P99_MS):
    """Seconds after the burst until the side effects done are back under `bound_ms` p99,
    interval by interval of `points` (series); 0 when they never went over; None when the
    last interval is still over."""
    after = [(t, p99) for t, p99 in points if t >= burst_end and p99 is not None]
    over = [i for i, (_, p99) in enumerate(after) if p99 > bound_ms]
    if not over:
        return 0.0 if after else None
    if over[-1] == len(after) - 1:
        return None
    return round(after[over[-1] + 1][0] - burst_end, 1)


def next_rate(probes: list[tuple[float, bool]], *, start: float, step: float, floor: float = 5):
    """The steady rate to probe next, None when the search is over. `probes`: (rate, held)
    so far. Up by `step` while it holds, then once halfway back to the best that held;
    down by `step` from `start` when none held yet, to `floor`."""
    if not probes:
        return start
    held = [rate for rate, ok in probes if ok]
    failed = [rate for rate, ok in probes if not ok]
    if not failed:
        return probes[-1][0] + step
    ceiling = min(failed)
    below = [rate for rate in held if rate < ceiling]
    if not below:
        lower = ceiling - step
        return lower if lower >= floor else None
    middle = (max(below) + ceiling) / 2
    if ceiling - max(below) <= step / 2 or middle in [rate for rate, _ in probes]:
        return None
    return middle


def sustained(probes: list[tuple[float, bool]]) -> float | None:
    """The highest rate that held, below every rate that did not."""
    ceiling = min((rate for rate, ok in probes if not ok), default=INF)
    return max((rate for rate, ok in probes if ok and rate < ceiling), default=None)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def met(value: float | None, bound: float, *, at_least: bool = False) -> str:
    if value is None:
        return "no"
    return "yes" if (value >= bound if at_least else value <= bound) else "no"
