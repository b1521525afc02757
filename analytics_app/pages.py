"""The analytics page (staff): the last days' figures, today's as of now and the days
before from the daily rollups, as bar charts in HTML and CSS (analytics_app.charts,
analytics_app/bar_chart.html) and as a table."""

import re
from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from core.money import money

from . import selectors
from .charts import bar_chart

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
