import math
from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from side_effects import selectors as side_effect_selectors

from .models import AnalyticsEvent, DailySummary

Name = AnalyticsEvent.Name
ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=2))


def event_list(*, since: date | None = None, until: date | None = None) -> QuerySet:
    """The events of the orders placed from `since` to `until` (days, both included)."""
    events = AnalyticsEvent.objects.all()
    if since:
        events = events.filter(occurred_at__date__gte=since)
    if until:
        events = events.filter(occurred_at__date__lte=until)
    return events


def daily_summary(*, since: date | None = None, until: date | None = None) -> list[dict]:
    """Orders, units and revenue per day, newest first, computed from the events."""
    placing = AnalyticsEvent.objects.filter(order_id=OuterRef("order_id"), name=Name.ORDER_PLACED)
    # A cancel takes back only what was counted: its order's placing is recorded too (the
    # checkout's analytics may still be pending, or failed).
    events = event_list(since=since, until=until).annotate(counted=Exists(placing))
    placed = Q(name=Name.ORDER_PLACED)
    cancelled = Q(name=Name.ORDER_CANCELLED, counted=True)
    rows = (
        events.annotate(day=TruncDate("occurred_at"))
        .values("day")
        .annotate(
            orders=Count("id", filter=placed),
            cancelled=Count("id", filter=cancelled),
            units=Coalesce(Sum("units", filter=placed), 0),
            revenue=Coalesce(Sum("revenue", filter=placed), ZERO)
            - Coalesce(Sum("revenue", filter=cancelled), ZERO),
        )
        .order_by("-day")
    )
    # Revenue to the cent: that of the day's orders not cancelled.
    return [{**row, "revenue": row["revenue"].quantize(Decimal("0.01"))} for row in rows]


LAG_FIELDS = (
    "side_effect_lag_p50_ms",
    "side_effect_lag_p95_ms",
    "side_effect_lag_p99_ms",
    "side_effect_lag_orders",
    "side_effects_failed",
    "side_effects_pending",
)


def daily_summary_with_lag(*, since: date | None = None, until: date | None = None) -> list[dict]:
    """daily_summary()'s rows, each with the side-effect lag of its day: today's as of now
    (side_effect_lag, `rolled_up_at` null), another day's as its last rollup computed it
    (`rolled_up_at`), or nulls (and zeros) if no rollup did."""
    rows = daily_summary(since=since, until=until)
    today = timezone.localdate()
    rolled = DailySummary.objects.in_bulk([row["day"] for row in rows], field_name="day")
    for row in rows:
        if row["day"] == today:  # its totals are the row's: only the lag is wanted
            row.update(side_effect_lag(day=today), rolled_up_at=None)
            continue
        # An unsaved one: zero counts, null percentiles and no updated_at.
        summary = rolled.get(row["day"]) or DailySummary(day=row["day"])
        row.update({field: getattr(summary, field) for field in LAG_FIELDS})
        row["rolled_up_at"] = summary.updated_at
    return rows


FIGURE_FIELDS = ("orders", "cancelled", "units", "revenue", *LAG_FIELDS)


def day_figures(*, day: date) -> DailySummary:
    """One day's figures as of now, from its events and its orders' side effects,
    unsaved: what the rollup writes for the day, and what today shows before it has."""
    rows = daily_summary(since=day, until=day)
    totals = {key: rows[0][key] for key in FIGURE_FIELDS[:4]} if rows else {}
    return DailySummary(day=day, **totals, **side_effect_lag(day=day))


def daily_summary_days(*, first: date, last: date) -> list[DailySummary]:
    """The days from `first` to `last`, oldest first, none before the shop's first order
    (its first event, or summary with orders): today's figures as of now (day_figures),
    the other days' as the rollup wrote them, or zeros for a day it did not."""
    today = timezone.localdate()
    first_event = AnalyticsEvent.objects.aggregate(at=Min("occurred_at"))["at"]
    # Not the first summary: the rollup writes yesterday's too, zeros on a shop's first day.
    with_orders = DailySummary.objects.filter(orders__gt=0)
    first_summary = with_orders.aggregate(day=Min("day"))["day"]
    known = [first_summary, first_event and timezone.localdate(first_event)]
    shop_first = min((day for day in known if day), default=today)
    first = max(first, min(shop_first, last))
    rolled = DailySummary.objects.filter(day__gte=first, day__lte=last).in_bulk(field_name="day")
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [
        day_figures(day=day) if day == today else rolled.get(day) or DailySummary(day=day)
        for day in days
    ]


def side_effect_lag(*, day: date) -> dict:
    """The side-effect lag of the orders placed on `day` (the current time zone's day, as
    the events are grouped): p50/p95/p99 in ms over the orders whose side effects are all
    done, how many those are, and the side effects failed and pending."""
    start = timezone.make_aware(datetime.combine(day, time.min))
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
    lags: Counter[int] = Counter()
    failed = pending = 0
    for outcome in side_effect_selectors.side_effect_outcomes(placed_from=start, placed_before=end):
        failed += outcome.failed
        pending += outcome.pending
        if outcome.lag_ms is not None:
            lags[lag_bucket(outcome.lag_ms)] += 1
    return {
        "side_effect_lag_p50_ms": percentile(lags, 50),
        "side_effect_lag_p95_ms": percentile(lags, 95),
        "side_effect_lag_p99_ms": percentile(lags, 99),
        "side_effect_lag_orders": lags.total(),
        "side_effects_failed": failed,
        "side_effects_pending": pending,
    }


def lag_bucket(ms: int) -> int:
    """`ms` exact below 1 s, to three significant digits above (12_345 -> 12_300): a day's
    lags take at most a few thousand distinct values, however many orders it had."""
    if ms < 1000:
        return ms
    scale = 10 ** (len(str(ms)) - 3)
    return round(ms / scale) * scale


def percentile(counts: Counter[int], p: float) -> int | None:
    """The `p`th percentile of the values counted in `counts` (value -> how many times):
    the value at rank round(p/100 * n), at least 1, of the n values in order; None for no
    values. HdrHistogram's definition, which the benchmark's figures use too
    (bench/figures.py): the p50 of 10 values is the 5th, the p99 of 100 the 99th."""
    total = counts.total()
    if not total:
        return None
    rank = max(math.floor(p / 100 * total + 0.5), 1)  # half up, as HdrHistogram rounds
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable: the ranks add up to the total")
