"""analytics_app.pages.bar_chart: a bar chart's bars (heights and texts) from numbers alone."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from analytics_app.pages import bar_chart

DAYS = [date(2024, 5, 1) + timedelta(days=n) for n in range(4)]


def heights(chart) -> list[list[float]]:
    return [[float(bar["height"].removesuffix("%")) for bar in bars] for bars in chart["days"]]


def test_bars_are_as_tall_as_their_share_of_the_largest_number():
    chart = bar_chart(DAYS, {"orders": [2, 4, 1, 3]}, "{} orders".format)

    assert heights(chart) == [[50], [100], [25], [75]]
    assert chart["top"] == "4 orders"  # what the full height stands for
    assert chart["series"] == []  # one series: no legend


def test_a_zero_or_missing_number_draws_no_bar_but_keeps_its_day():
    chart = bar_chart(DAYS, {"orders": [3, 0, None, 6]}, str)

    assert heights(chart) == [[50], [], [], [100]]


def test_all_zero_draws_no_bars_without_dividing_by_zero():
    chart = bar_chart(DAYS[:3], {"orders": [0, 0, 0]}, str)

    assert chart["days"] == [[], [], []]
    assert chart["top"] == ""


def test_each_bar_says_its_day_and_number():
    chart = bar_chart(DAYS[:2], {"revenue": [Decimal("9.99"), Decimal("40.00")]}, "{:,.2f}".format)

    assert [bar["text"] for bars in chart["days"] for bar in bars] == [
        "2024-05-01: 9.99",
        "2024-05-02: 40.00",
    ]
    assert heights(chart)[0] == [pytest.approx(24.98, abs=0.01)]


def test_two_series_share_one_scale_and_name_themselves():
    chart = bar_chart(DAYS[:2], {"p50": [100, None], "p95": [400, 200]}, "{} ms".format)

    assert chart["series"] == ["p50", "p95"]
    assert [[(bar["series"], bar["text"]) for bar in bars] for bars in chart["days"]] == [
        [("p50", "2024-05-01 p50: 100 ms"), ("p95", "2024-05-01 p95: 400 ms")],
        [("p95", "2024-05-02 p95: 200 ms")],
    ]
    assert heights(chart) == [[25, 100], [50]]
