"""The analytics page (staff): the last days' figures, today's as of now and the days
before from the daily rollups, as bar charts in HTML and CSS (analytics_app/bar_chart.html
draws them: no JavaScript, no SVG) and as a table."""

import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from core.money import money

from . import selectors

DEFAULT_DAYS, MAX_DAYS = 30, 366
TEMPLATE = "analytics_app/page.html"


@login_required
def analytics_page(request):
    if not request.user.is_staff:
        return render(request, TEMPLATE, {"error": "This page is for staff only."}, status=403)
    # ?days=: how many days the page shows, today included.
    raw = request.GET.get("days", str(DEFAULT_DAYS))
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_DAYS:
        error = f"days must be a whole number from 1 to {MAX_DAYS}."
        return render(request, TEMPLATE, {"error": error}, status=400)
    days = int(raw)
    last = timezone.localdate()
    summaries = selectors.daily_summary_days(first=last - timedelta(days=days - 1), last=last)
    context = {"days": days, "summaries": summaries, "charts": daily_charts(summaries)}
    return render(request, TEMPLATE, context)


def daily_charts(summaries) -> dict[str, dict]:
    """The page's three charts' bars, oldest day first: orders, revenue, side-effect lag."""
    days = [summary.day for summary in summaries]
    return {
        "orders": bar_chart(days, {"orders": [s.orders for s in summaries]}, "{:,} orders".format),
        "revenue": bar_chart(days, {"revenue": [s.revenue for s in summaries]}, money),
        "lag": bar_chart(
            days,
            {
                "p50": [s.side_effect_lag_p50_ms for s in summaries],
                "p95": [s.side_effect_lag_p95_ms for s in summaries],
            },
            "{:,} ms".format,
        ),
    }


def bar_chart(
    days: Sequence[date],
    series: dict[str, Sequence[float | None]],
    number: Callable[[float], str],
) -> dict:
    """For each day its bars, as tall as their share of the largest number: `series` maps
    a name to a number per day; None or 0 draws no bar. Each bar has its height (a CSS
    percentage) and its text (the day, the series if several, the number)."""
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
