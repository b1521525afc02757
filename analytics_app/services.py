from datetime import date, timedelta

from django.utils import timezone

from store import selectors as store_selectors

from .models import AnalyticsEvent, DailySummary
from .selectors import FIGURE_FIELDS, day_figures

ANALYTICS = "analytics"  # the side effect kind (analytics_app.apps registers its task)
CANCELLATION = "analytics_cancellation"  # the job kind of a cancel's record


def analytics_record(*, order_id: int, name=AnalyticsEvent.Name.ORDER_PLACED) -> bool:
    """Record this order's event `name` (placed, or cancelled), once. A cancel of an order
    placed on a day the hourly rollup no longer recomputes rolls that day up again."""
    order = store_selectors.order_for_processing(order_id=order_id, with_customer=False)
    # INSERT ... ON CONFLICT DO NOTHING: what an earlier attempt recorded stays as is.
    AnalyticsEvent.objects.bulk_create([_order_event(order, name)], ignore_conflicts=True)
    day = timezone.localdate(order.placed_at)
    if name == AnalyticsEvent.Name.ORDER_CANCELLED and day < timezone.localdate():
        daily_summary_rollup(day=day)
    return True


def _order_event(order, name: str) -> AnalyticsEvent:
    items = order.line_items
    return AnalyticsEvent(
        name=name,
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
    """Materialise one day's summary (selectors.day_figures). Idempotent: it recomputes
    from the events and the side effects of the orders placed that day."""
    figures = day_figures(day=day)
    summary, _ = DailySummary.objects.update_or_create(
        day=day, defaults={field: getattr(figures, field) for field in FIGURE_FIELDS}
    )
    return summary


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
