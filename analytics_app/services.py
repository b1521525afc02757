import math
from collections import Counter
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from side_effects import selectors as side_effect_selectors
from side_effects.services import side_effects_claim
from store import selectors as store_selectors

from .models import AnalyticsEvent, DailySummary
from .selectors import daily_summary

ANALYTICS = "analytics"  # the side effect kind (analytics_app.apps registers its task)


def analytics_record(*, order_ids: list[int]) -> list[int]:
    """Record the order_placed event of these orders, once; the ids of the orders this call
    recorded. One transaction with their side effects' done mark; unique per order, so a
    concurrent delivery records nothing twice."""
    with transaction.atomic():
        claimed = side_effects_claim(kind=ANALYTICS, order_ids=order_ids)
        if not claimed:
            return []
        orders = store_selectors.orders_for_processing(order_ids=claimed, with_customer=False)
        # INSERT ... ON CONFLICT DO NOTHING: what another delivery recorded stays as is.
        AnalyticsEvent.objects.bulk_create(
            [_order_placed_event(order) for order in orders], ignore_conflicts=True
        )
    return claimed


def _order_placed_event(order) -> AnalyticsEvent:
    items = order.line_items
    return AnalyticsEvent(
        order_id=order.pk,
        customer_id=order.customer_id,
        items=[
            {
                "product_id": item.product_id,
                "sku": item.product.sku,
                "quantity": item.quantity,
                "unit_price": str(item.unit_price),
            }
            for item in items
        ],
        units=sum(item.quantity for item in items),
        revenue=order.total,
        occurred_at=order.placed_at,
    )


def daily_summary_rollup(*, day: date) -> DailySummary:
    """Materialise one day's summary. Idempotent: it recomputes from the events and the
    side effects of the orders placed that day."""
    rows = daily_summary(since=day, until=day)
    totals = rows[0] if rows else {"orders": 0, "units": 0, "revenue": 0}
    summary, _ = DailySummary.objects.update_or_create(
        day=day,
        defaults={
            "orders": totals["orders"],
            "units": totals["units"],
            "revenue": totals["revenue"],
            **side_effect_lag(day=day),
        },
    )
    return summary


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
    """The nearest-rank `p`th percentile of the values counted in `counts` (value ->
    how many times): the smallest value that at least p% of them do not exceed. None for
    no values."""
    total = counts.total()
    if not total:
        return None
    rank = max(math.ceil(p / 100 * total), 1)
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable: the ranks add up to the total")


def daily_summaries_rollup(*, days: int = 2) -> list[str]:
    """Recompute today's summary and the previous days' (late events land in them); the
    days done, ISO formatted, newest first."""
    today = timezone.localdate()
    done = []
    for offset in range(max(days, 1)):
        day = today - timedelta(days=offset)
        daily_summary_rollup(day=day)
        done.append(day.isoformat())
    return done
