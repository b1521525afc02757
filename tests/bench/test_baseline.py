"""What bench/load.py compares and how it says it: the variants it runs (Shopflow and the
plain design by default, the eager one on demand), the async/plain ratios against their
targets, and the plain design's side-effect lag said to be zero, done in the request."""

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import baseline
import report
from cpu import STACK
from figures import IN_REQUEST


def test_the_default_variants_are_shopflow_and_the_plain_design():
    assert baseline.chosen_variants(baseline.DEFAULT) == ["async", "plain"]


def test_the_eager_variant_is_opt_in_and_shopflow_comes_first_whatever_the_order():
    assert baseline.chosen_variants("sync,plain,async") == ["async", "plain", "sync"]
    assert baseline.chosen_variants(" plain , async-noevents,async") == [
        "async",
        "plain",
        "async-noevents",
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("async,eager", "unknown variants eager"),
        ("async,async", "twice"),
        ("", "none"),
        ("plain,async-noevents", "takes turns with async"),
    ],
)
def test_variants_that_cannot_run_are_refused_with_the_reason(text, says):
    with pytest.raises(ValueError, match=says):
        baseline.chosen_variants(text)


def test_each_design_after_shopflow_gets_a_ratio_column_the_baseline_first():
    assert baseline.columns(["sync", "async", "plain"]) == ["async", "plain", "sync"]
    assert baseline.compared(["async", "plain", "async-noevents"]) == ["plain"]
    assert baseline.compared(["plain"]) == []  # no Shopflow: nothing to compare


def test_a_ratio_is_shopflows_figure_over_the_other_designs():
    assert baseline.ratio_cell((30.0,), (40.0,)) == "0.75x"
    assert baseline.ratio_cell((30.0,), None) == "-"
    assert baseline.ratio_cell((30.0,), (0.0,)) == "-"
    # A rate search the plain design failed at every rate: said so, only when asked.
    assert baseline.ratio_cell((15.0,), (None,), failed="plain") == "plain: none"
    assert baseline.ratio_cell((15.0,), (None,)) == "-"


@pytest.mark.parametrize(
    ("cell", "target", "met"),
    [
        ("0.95x", "<= 1.0x plain", "yes"),
        ("1.13x", "<= 1.0x plain", "no"),
        ("1.02x", ">= 1.0x plain", "yes"),
        ("0.97x", ">= 1.0x plain", "no"),
        ("plain: none", ">= 3x plain", "yes"),
        ("-", "<= 1.0x plain", "no"),
    ],
)
def test_a_ratio_meets_a_bound_in_either_direction(cell, target, met):
    assert baseline.ratio_target(target) == "plain"
    assert baseline.ratio_met(cell, target) == met


def test_the_headline_ratios_are_shopflows_cpu_and_orders_over_the_plain_designs():
    summaries = {
        "async": {
            "closed": {"stack_cpu_ms_per_order": 30.0, "orders_per_s": 60.0},
            "open30": {"stack_cpu_ms_per_order": 36.0},
        },
        "plain": {
            "closed": {"stack_cpu_ms_per_order": 40.0, "orders_per_s": 50.0},
            "open30": {"stack_cpu_ms_per_order": 30.0},
        },
    }
    assert baseline.headline(summaries) == {
        "async/plain": {
            "cpu_ms_per_order_closed": 0.75,
            "cpu_ms_per_order_at_30": 1.2,
            "orders_per_s_closed": 1.2,
            "orders_per_s_closed_smtp200": None,
        }
    }


def summary(*, cpu: dict, orders_per_s: float, effects_p99: float | None, in_request: bool):
    return {
        "orders_per_s": orders_per_s,
        "side_effects_p50_ms": effects_p99,
        "side_effects_p99_ms": effects_p99,
        "side_effects_in_request": in_request,
        "cpu_ms_per_order": cpu,
        "stack_cpu_ms_per_order": sum(cpu.values()),
    }


def table(runs: dict) -> dict[str, list[str]]:
    """The report's rows by their first cell."""
    rows = [line.strip("| ").split(" | ") for line in report.report(runs, {}, []) if "|" in line]
    return {cells[0]: cells[1:] for cells in rows}


def test_the_report_compares_shopflow_with_the_plain_design_and_says_its_lag_is_in_the_request():
    runs = {
        "async": {
            "closed": summary(
                cpu={"web": 20.0, "worker": 5.0, "postgres": 5.0},
                orders_per_s=55.0,
                effects_p99=300.0,
                in_request=False,
            )
        },
        "plain": {
            "closed": summary(
                cpu={"web": 24.0, "postgres": 6.0},
                orders_per_s=50.0,
                effects_p99=None,
                in_request=True,
            )
        },
    }
    rows = table(runs)
    assert rows["figure"] == ["async", "plain", "async/plain", "target", "met"]
    assert rows["CPU ms per order, every process, closed loop"] == [
        "30.0",
        "30.0",
        "1.00x",
        "<= 1.0x plain",
        "yes",
    ]
    assert rows["closed-loop orders/s"] == ["55.0", "50.0", "1.10x", ">= 1.0x plain", "yes"]
    assert rows["async/plain, closed"][len(STACK)] == "1.00x"  # the CPU table's stack total
    lines = report.report(runs, {}, [])
    assert any(line.startswith(f"plain: side-effect lag {IN_REQUEST}") for line in lines)


def test_with_the_eager_variant_the_report_adds_its_column_and_ratio_after_the_baselines():
    closed = summary(cpu={"web": 30.0}, orders_per_s=40.0, effects_p99=20.0, in_request=False)
    plain = summary(cpu={"web": 30.0}, orders_per_s=50.0, effects_p99=None, in_request=True)
    runs = {"sync": {"closed": closed}, "async": {"closed": closed}, "plain": {"closed": plain}}
    rows = table(runs)
    assert rows["figure"] == [
        "async",
        "plain",
        "sync",
        "async/plain",
        "async/sync",
        "target",
        "met",
    ]
    assert rows["closed-loop orders/s"][:5] == ["40.0", "50.0", "40.0", "0.80x", "1.00x"]
    assert rows["closed-loop orders/s"][-1] == "no"  # judged against the plain design


def test_the_plain_designs_lag_figures_read_zero_in_the_request_and_its_latency_as_measured():
    from figures import FIGURES

    plain = {
        "open30": {
            "side_effects_p50_ms": None,
            "side_effects_p99_ms": None,
            "checkout_p50_ms": 21.0,
            "checkout_p99_ms": 40.0,
            "side_effects_in_request": True,
        }
    }
    by_label = {figure.label: figure for figure in FIGURES}
    lag = by_label["side-effect lag p50 / p99 at 30/s, slowest kind (ms)"]
    checkout = by_label["checkout p50 / p99 at 30/s (ms)"]
    assert lag.cells(plain) == (IN_REQUEST, IN_REQUEST)
    assert checkout.cells(plain) == (21.0, 40.0)
    shopflow = {"open30": {**plain["open30"], "side_effects_in_request": False}}
    assert lag.cells(shopflow) == (None, None)


def test_only_shopflows_variants_take_a_redis_database_counting_down():
    import variants

    urls = variants.broker_urls("redis://127.0.0.1:6379/14", ["async", "plain", "sync"])
    assert urls == ["redis://127.0.0.1:6379/14", None, "redis://127.0.0.1:6379/13"]
