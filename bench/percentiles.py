"""Every percentile the benchmarks print, from one definition: HdrHistogram's. The value
at rank round(p/100 * n) (at least 1) of the n values, to 3 significant digits: the p50 of
10 values is the 5th, the p99 of 100 the 99th. Latencies the client timed are recorded
as they are; a Prometheus histogram's buckets (the stack's side-effect lag) are spread
evenly over each bucket first, as Prometheus's histogram_quantile reads them."""

from hdrh.histogram import HdrHistogram

# Microseconds, from 1 us to an hour.
LOWEST, HIGHEST, DIGITS = 1, 3_600_000_000, 3


def histogram(values_ms=()) -> HdrHistogram:
    recorded = HdrHistogram(LOWEST, HIGHEST, DIGITS)
    for value in values_ms:
        recorded.record_value(min(max(round(value * 1000), LOWEST), HIGHEST))
    return recorded


def at(recorded: HdrHistogram, p: float) -> float | None:
    """The p-th percentile in ms, None when nothing was recorded."""
    if not recorded.get_total_count():
        return None
    return round(recorded.get_value_at_percentile(p) / 1000, 2)


def pct(values_ms, p: float) -> float | None:
    return at(histogram(values_ms), p)


def merged(histograms) -> HdrHistogram:
    total = histogram()
    for recorded in histograms:
        total.add(recorded)
    return total


def from_buckets(counts: list[tuple[float, int]]) -> HdrHistogram:
    """A histogram of Prometheus buckets: (upper bound in s, count in that bucket alone),
    in order of bound; the i-th of a bucket's c values at i/c of the way through it. The
    +Inf bucket's values count at the highest finite bound."""
    recorded, lower = histogram(), 0.0
    for upper, count in counts:
        finite = upper != float("inf")
        for i in range(1, int(count) + 1):
            seconds = lower + (upper - lower) * i / count if finite else lower
            recorded.record_value(min(max(round(seconds * 1e6), LOWEST), HIGHEST))
        lower = upper if finite else lower
    return recorded
