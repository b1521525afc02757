"""Bar charts as plain HTML (analytics_app/bar_chart.html draws them with CSS: no
JavaScript, no SVG): for each day its bars, as tall as their share of the largest number."""

from collections.abc import Callable, Sequence
from datetime import date


def bar_chart(
    days: Sequence[date],
    series: dict[str, Sequence[float | None]],
    number: Callable[[float], str],
) -> dict:
    """`series` maps a name to a number per day; None or 0 draws no bar. Each bar has its
    height (a CSS percentage) and its text (the day, the series if several, the number)."""
    largest = max((value for values in series.values() for value in values if value), default=0)
    several = len(series) > 1

    def bar(day: date, name: str, value: float) -> dict:
        label = f"{day.isoformat()} {name}" if several else day.isoformat()
        return {
            "series": name,
            "height": f"{value / largest:.2%}",
            "text": f"{label}: {number(value)}",
        }

    return {
        "series": list(series) if several else [],  # the legend, when there is one to read
        "top": number(largest) if largest else "",  # what the full height stands for
        "days": [
            [bar(day, name, values[index]) for name, values in series.items() if values[index]]
            for index, day in enumerate(days)
        ],
    }
