"""The analytics page (staff): the last days' figures, today's as of now and the days
before from the daily rollups, as charts drawn on the server (analytics_app.charts) and as
a table."""

import re
from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from . import charts, selectors

DEFAULT_DAYS, MAX_DAYS = 30, 366
TEMPLATE = "analytics_app/page.html"


@login_required
def analytics_page(request):
    if not request.user.is_staff:
        return render(request, TEMPLATE, {"error": "This page is for staff only."}, status=403)
    try:
        days = page_days(request.GET.get("days"))
    except ValueError as refused:
        return render(request, TEMPLATE, {"error": str(refused)}, status=400)
    last = timezone.localdate()
    summaries = selectors.daily_summary_days(first=last - timedelta(days=days - 1), last=last)
    context = {"days": days, "summaries": summaries, "charts": daily_charts(summaries)}
    return render(request, TEMPLATE, context)


def page_days(raw: str | None) -> int:
    """?days=: how many days the page shows, today included; ValueError saying why not."""
    if raw is None:
        return DEFAULT_DAYS
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}.")
    return int(raw)


def daily_charts(summaries) -> dict[str, str]:
    """The page's three charts, oldest day on the left: orders, revenue, side-effect lag."""
    labels = [summary.day.isoformat() for summary in summaries]
    ticks = [summary.day.strftime("%m-%d") for summary in summaries]
    common = {"labels": labels, "tick_labels": ticks}
    return {
        "orders": charts.bar_chart(
            chart_id="orders-chart-svg",
            title="Orders per day",
            y_label="Orders",
            series=[charts.Series("orders", [s.orders for s in summaries], "#2e6fd8")],
            value_format=lambda value: f"{value:,.0f} orders",
            **common,
        ),
        "revenue": charts.bar_chart(
            chart_id="revenue-chart-svg",
            title="Revenue per day",
            y_label="Revenue",
            series=[charts.Series("revenue", [float(s.revenue) for s in summaries], "#27864b")],
            value_format=lambda value: f"{value:,.2f}",
            **common,
        ),
        "lag": charts.bar_chart(
            chart_id="lag-chart-svg",
            title="Side-effect lag per day (placed to all side effects done)",
            y_label="Lag (ms)",
            series=[
                charts.Series("p50", [s.side_effect_lag_p50_ms for s in summaries], "#2e6fd8"),
                charts.Series("p95", [s.side_effect_lag_p95_ms for s in summaries], "#e08a1e"),
            ],
            value_format=lambda value: f"{value:,.0f} ms",
            **common,
        ),
    }
