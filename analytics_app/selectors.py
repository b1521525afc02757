from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate

from .models import AnalyticsEvent, DailySummary


def event_list() -> QuerySet[AnalyticsEvent]:
    return AnalyticsEvent.objects.all()


def daily_summary(*, since: date | None = None, until: date | None = None) -> list[dict]:
    """Orders, units and revenue per day, newest first, computed from the events."""
    events = AnalyticsEvent.objects.all()
    if since:
        events = events.filter(occurred_at__date__gte=since)
    if until:
        events = events.filter(occurred_at__date__lte=until)
    rows = (
        events.annotate(day=TruncDate("occurred_at"))
        .values("day")
        .annotate(orders=Count("id"), units=Sum("units"), revenue=Sum("revenue"))
        .order_by("-day")
    )
    return [
        {
            "day": row["day"],
            "orders": row["orders"],
            "units": row["units"] or 0,
            "revenue": (row["revenue"] or Decimal("0")).quantize(Decimal("0.01")),
        }
        for row in rows
    ]


LAG_FIELDS = (
    "side_effect_lag_p50_ms",
    "side_effect_lag_p95_ms",
    "side_effect_lag_p99_ms",
    "side_effect_lag_orders",
    "side_effects_failed",
    "side_effects_pending",
)


def daily_summary_with_lag(*, since: date | None = None, until: date | None = None) -> list[dict]:
    """daily_summary()'s rows, each with the side-effect lag of its day as the last rollup
    of that day computed it (`rolled_up_at`), or nulls (and zeros) if no rollup did yet."""
    rows = daily_summary(since=since, until=until)
    rolled = {
        summary.day: summary
        for summary in DailySummary.objects.filter(day__in=[row["day"] for row in rows])
    }
    for row in rows:
        # An unsaved one: zero counts, null percentiles and no updated_at.
        summary = rolled.get(row["day"]) or DailySummary(day=row["day"])
        row.update({field: getattr(summary, field) for field in LAG_FIELDS})
        row["rolled_up_at"] = summary.updated_at
    return rows


def daily_summary_days(*, first: date, last: date) -> list[DailySummary]:
    """The materialised summaries of every day from `first` to `last`, oldest first; a day
    no rollup wrote comes as an unsaved zero summary (no orders, no lag)."""
    rolled = {s.day: s for s in DailySummary.objects.filter(day__gte=first, day__lte=last)}
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [rolled.get(day) or DailySummary(day=day) for day in days]
