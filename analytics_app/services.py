from datetime import date

from core.db import insert_unless_exists
from store import selectors as store_selectors
from store import services as store_services
from store.models import OrderSideEffect

from .models import AnalyticsEvent, DailySummary
from .selectors import daily_summary


def order_event_record(*, order_id: int) -> bool:
    """Record the order_placed event of an order, once; True when this call recorded it.
    Raises Order.DoesNotExist."""
    order = store_selectors.order_for_processing(order_id=order_id)
    items = list(order.items.all())
    event = AnalyticsEvent(
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
    # Unique per order: a redelivery records nothing. Recorded, then marked: a crash in
    # between leaves the effect pending, and the next delivery only marks it.
    created = insert_unless_exists(event)
    store_services.order_side_effect_mark(
        order_id=order.pk,
        kind=OrderSideEffect.Kind.ANALYTICS,
        status=OrderSideEffect.Status.DONE,
    )
    return created


def daily_summary_rollup(*, day: date) -> DailySummary:
    """Materialise one day's summary. Idempotent: it recomputes from the events."""
    rows = daily_summary(since=day, until=day)
    totals = rows[0] if rows else {"orders": 0, "units": 0, "revenue": 0}
    summary, _ = DailySummary.objects.update_or_create(
        day=day,
        defaults={
            "orders": totals["orders"],
            "units": totals["units"],
            "revenue": totals["revenue"],
        },
    )
    return summary
