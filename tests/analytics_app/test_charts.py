"""analytics_app.charts: bar charts as SVG markup, from numbers alone."""

import xml.etree.ElementTree as ET

import pytest

from analytics_app import charts

SVG = "{http://www.w3.org/2000/svg}"


def draw(values, *, labels=None, **kwargs):
    labels = labels or [f"2024-05-{n + 1:02d}" for n in range(len(values))]
    options = {
        "chart_id": "test-chart",
        "title": "Orders per day",
        "labels": labels,
        "series": [charts.Series("orders", values, "#2e6fd8")],
        "y_label": "Orders",
        **kwargs,
    }
    return charts.bar_chart(**options)


def bars(markup) -> list[ET.Element]:
    return ET.fromstring(markup).findall(f".//{SVG}rect[@class='bar']")


def height(bar) -> float:
    return float(bar.get("height"))


def test_bar_heights_are_proportional_to_the_numbers():
    found = bars(draw([2, 4, 1, 3]))

    heights = [height(bar) for bar in found]
    assert heights[1] == pytest.approx(2 * heights[0])
    assert heights[0] == pytest.approx(2 * heights[2])
    assert heights[3] == pytest.approx(3 * heights[2])
    assert max(heights) <= charts.PLOT_HEIGHT


def test_bars_stand_on_the_baseline():
    for bar in bars(draw([5, 1, 12])):
        assert float(bar.get("y")) + height(bar) == pytest.approx(charts.BASELINE)


def test_a_zero_or_missing_number_draws_no_bar():
    found = bars(draw([3, 0, None, 6]))

    assert [bar.get("data-index") for bar in found] == ["0", "3"]


def test_all_zero_draws_an_empty_chart_without_dividing_by_zero():
    markup = draw([0, 0, 0])

    assert bars(markup) == []
    assert ET.fromstring(markup).find(f"{SVG}title").text == "Orders per day"


def test_each_bar_says_its_number_in_a_title():
    found = bars(draw([2, 4], value_format=lambda value: f"{value:.0f} orders"))

    assert [bar.find(f"{SVG}title").text for bar in found] == [
        "2024-05-01: 2 orders",
        "2024-05-02: 4 orders",
    ]


def test_the_chart_has_a_title_and_axis_labels():
    root = ET.fromstring(draw([1, 2], x_label="Day"))

    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "test-chart-title"
    assert root.find(f"{SVG}title").text == "Orders per day"
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert "Orders per day" in texts
    assert {"Orders", "Day"} <= set(texts)
    assert {"0", "1", "2"} <= set(texts)  # the y axis' ticks
    assert {"2024-05-01", "2024-05-02"} <= set(texts)  # the x axis' labels


def test_text_is_escaped():
    markup = draw(
        [1],
        labels=['<script>alert("x")</script>'],
        title="Orders & <b>revenue</b>",
        y_label='"quoted"',
    )

    root = ET.fromstring(markup)  # well-formed: nothing broke out
    assert "<script>" not in markup and "<b>" not in markup
    assert root.find(f"{SVG}title").text == "Orders & <b>revenue</b>"
    assert bars(markup)[0].find(f"{SVG}title").text.startswith('<script>alert("x")</script>')


def test_a_second_series_draws_side_by_side_bars_on_one_scale_with_a_legend():
    markup = charts.bar_chart(
        chart_id="lag",
        title="Lag",
        labels=["a", "b"],
        series=[
            charts.Series("p50", [100, None], "#111111"),
            charts.Series("p95", [400, 200], "#222222"),
        ],
        y_label="ms",
    )
    found = bars(markup)

    assert [(bar.get("data-index"), bar.get("data-series")) for bar in found] == [
        ("0", "p50"),
        ("0", "p95"),
        ("1", "p95"),
    ]
    assert height(found[1]) == pytest.approx(4 * height(found[0]))
    assert height(found[1]) == pytest.approx(2 * height(found[2]))
    assert float(found[1].get("x")) > float(found[0].get("x"))
    assert [bar.find(f"{SVG}title").text for bar in found][:2] == ["a p50: 100", "a p95: 400"]
    assert len(ET.fromstring(markup).findall(f".//{SVG}rect[@class='swatch']")) == 2


def test_many_days_label_every_few_and_always_the_last():
    labels = [f"d{n}" for n in range(30)]
    texts = {text.text for text in ET.fromstring(draw([1] * 30, labels=labels)).iter(f"{SVG}text")}

    shown = [label for label in labels if label in texts]
    assert "d29" in shown
    assert 5 <= len(shown) <= charts.MAX_X_LABELS


@pytest.mark.parametrize(
    ("largest", "step", "top"),
    [(0, 1, 1), (1, 1, 1), (4, 1, 4), (7, 2, 8), (10, 5, 10), (0.3, 0.1, 0.3), (1234, 500, 1500)],
)
def test_the_axis_ends_on_a_round_number_at_or_above_the_largest(largest, step, top):
    assert charts.axis_scale(largest) == pytest.approx((step, top))
