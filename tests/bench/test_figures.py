"""The benchmarks' own arithmetic: one percentile definition (HdrHistogram's), the lag
read from two scrapes of /metrics, and the recovery after a burst."""

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import bursts
import lag
import percentiles

INF = float("inf")


def test_a_percentile_is_the_value_at_its_rank_to_three_digits():
    assert percentiles.pct(range(1, 11), 50) == pytest.approx(5, rel=1e-3)
    assert percentiles.pct(range(1, 101), 99) == pytest.approx(99, rel=1e-3)
    assert percentiles.pct(range(1, 101), 100) == pytest.approx(100, rel=1e-3)
    assert percentiles.pct([], 50) is None


def test_buckets_are_spread_evenly_over_each_bucket():
    # 10 in (0, 0.1 s], none in (0.1, 0.5], 10 in (0.5, 1]: the 10th is at the top of the
    # first bucket, the 15th halfway through the third.
    recorded = percentiles.from_buckets([(0.1, 10), (0.5, 0), (1.0, 10), (INF, 0)])
    assert percentiles.at(recorded, 50) == pytest.approx(100, rel=1e-2)
    assert percentiles.at(recorded, 75) == pytest.approx(750, rel=1e-2)
    assert percentiles.at(recorded, 100) == pytest.approx(1000, rel=1e-2)


def scrape(at: float, **cumulative) -> lag.Scrape:
    """Cumulative counts by kind at bounds 0.1, 1 and +Inf."""
    buckets = {
        kind: dict(zip((0.1, 1.0, INF), counts, strict=True)) for kind, counts in cumulative.items()
    }
    return lag.Scrape(at=at, buckets=buckets, pending=0)


def test_the_lag_between_two_scrapes_is_what_was_done_between_them():
    before = scrape(0, email=(5, 5, 5))
    after = scrape(2, email=(5, 5, 7), inventory=(4, 4, 4))
    by_kind = lag.lag_by_kind(before, after)
    assert {k: h.get_total_count() for k, h in by_kind.items()} == {"email": 2, "inventory": 4}
    assert percentiles.at(by_kind["inventory"], 99) == pytest.approx(100, rel=1e-3)
    # Above the highest bound: counted at it, as Prometheus does.
    assert lag.slowest(by_kind, 50) == pytest.approx(1000, rel=1e-3)


def test_recovery_is_the_end_of_the_last_interval_over_the_bound_after_the_burst():
    series = [
        (0.0, 3000.0, 10),
        (2.0, 3000.0, 10),
        (4.0, 1500.0, 10),
        (6.0, 200.0, 10),
        (8.0, 100.0, 10),
    ]
    assert bursts.recovery_seconds(series, burst_end=2.0, phase_end=10.0) == 4.0
    assert bursts.recovery_seconds(series[:3], burst_end=2.0, phase_end=10.0) is None
    calm = [(start, 50.0, 10) for start, _, _ in series]
    assert bursts.recovery_seconds(calm, burst_end=2.0, phase_end=10.0) == 0.0


@pytest.mark.parametrize("n", [1, 2, 4, 7, 12, 26, 101, 333])
def test_the_apps_lag_percentiles_are_the_benchmarks(n):
    """One definition of a percentile: the analytics page's and /api/analytics/daily/'s
    lag figures (analytics_app.selectors.percentile, in whole ms) and every bench figure
    (HdrHistogram, to 3 significant digits) agree on the same values."""
    from analytics_app.selectors import percentile

    values = [(n * 37 + i * 101) % 997 + 1 for i in range(n)]  # spread, in ms, unordered
    for p in (12.5, 50, 51, 75, 90, 95, 99, 100):
        app = percentile(Counter(values), p)
        assert percentiles.pct(values, p) == pytest.approx(app, rel=1e-3), (p, sorted(values))
