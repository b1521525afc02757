"""The benchmark's own arithmetic (bench/figures.py): one percentile definition, shared
with the analytics page; the lag read from two scrapes of /metrics; the recovery after a
burst; the search for the highest steady rate."""

import sys
from collections import Counter

import pytest

from tests.support import PROJECT_DIR

sys.path.append(str(PROJECT_DIR / "bench"))

import figures

INF = float("inf")


def test_a_percentile_is_the_value_at_its_rank():
    assert figures.percentile(range(1, 11), 50) == 5
    assert figures.percentile(range(1, 101), 99) == 99
    assert figures.percentile([7], 99) == 7
    assert figures.percentile([], 50) is None


@pytest.mark.parametrize("n", [1, 2, 4, 7, 12, 26, 101, 333])
def test_the_analytics_page_and_the_bench_agree_on_a_percentile(n):
    from analytics_app.selectors import percentile

    values = [(n * 37 + i * 101) % 997 + 1 for i in range(n)]
    for p in (12.5, 50, 51, 75, 90, 95, 99, 100):
        assert figures.percentile(values, p) == percentile(Counter(values), p), p


def test_buckets_are_spread_evenly_over_each_bucket():
    # 10 in (0, 0.1 s], none in (0.1, 0.5], 10 in (0.5, 1], 2 above: counted at 1 s.
    values = figures.spread({0.1: 10, 0.5: 10, 1.0: 20, INF: 22})
    assert len(values) == 22
    assert figures.percentile(values, 45) == pytest.approx(100)  # the 10th
    assert figures.percentile(values, 70) == pytest.approx(750)
    assert max(values) == pytest.approx(1000)


def test_the_lag_between_two_scrapes_is_what_was_done_between_them():
    before = {"email": {0.1: 5, 1.0: 5, INF: 5}}
    after = {"email": {0.1: 5, 1.0: 7, INF: 7}, "inventory": {0.1: 4, 1.0: 4, INF: 4}}
    by_kind = figures.lag_by_kind(before, after)
    assert {kind: len(lags) for kind, lags in by_kind.items()} == {"email": 2, "inventory": 4}
    assert figures.slowest(by_kind, 99) == pytest.approx(1000)  # the email's
    assert figures.slowest({}, 99) is None


def test_recovery_is_when_the_first_interval_back_under_the_bound_starts():
    points = [(0.0, 3000.0), (2.0, 3000.0), (4.0, 1500.0), (6.0, 200.0), (8.0, 100.0)]
    assert figures.recovery_seconds(points, burst_end=2.0) == 4.0
    assert figures.recovery_seconds(points[:3], burst_end=2.0) is None  # still over
    assert figures.recovery_seconds([(t, 50.0) for t, _ in points], burst_end=2.0) == 0.0


def test_the_rate_search_goes_up_while_it_holds_then_once_halfway_back():
    probes = []
    held_up_to = 55
    while (rate := figures.next_rate(probes, start=30, step=10)) is not None:
        probes.append((rate, rate <= held_up_to))
    assert [rate for rate, _ in probes] == [30, 40, 50, 60, 55]
    assert figures.sustained(probes) == 55


def test_the_rate_search_goes_down_when_the_first_rate_fails():
    probes = []
    while (rate := figures.next_rate(probes, start=30, step=10)) is not None:
        probes.append((rate, rate <= 12))
    assert [rate for rate, _ in probes] == [30, 20, 10, 15]
    assert figures.sustained(probes) == 10
    assert figures.sustained([(30, False), (20, False)]) is None


def test_a_ratio_and_a_target():
    assert figures.ratio(23.0, 46.0) == 0.5
    assert figures.ratio(None, 46.0) is None
    assert figures.met(0.45, figures.CPU_RATIO) == "yes"
    assert figures.met(0.46, figures.CPU_RATIO) == "no"
    assert figures.met(1.9, figures.ORDERS_RATIO, at_least=True) == "no"
    assert figures.met(None, 1.0) == "no"
