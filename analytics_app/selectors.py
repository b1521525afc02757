from datetime import date
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate

from .models import AnalyticsEvent


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
