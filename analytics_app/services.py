from datetime import date

from django.conf import settings
from django.db import transaction

from lib.db import insert_rows
from store import selectors as store_selectors
from store import services as store_services
from store.models import Order, OrderSideEffect

from .models import AnalyticsEvent, DailySummary
from .selectors import daily_summary


def order_event_record(*, order_id: int) -> bool:
    """Record the order_placed event of an order, once; True when this call recorded it.

    Orders whose analytics side effect is pending beside this one are recorded in the
    same statements (up to SHOPFLOW_SIDE_EFFECT_BATCH_SIZE): four statements for the
    batch, where one order alone would take three. Unique per order, so a concurrent
    delivery records nothing twice. Raises Order.DoesNotExist for an unknown order.
    """
    status, due = store_selectors.side_effects_due(
        kind=OrderSideEffect.Kind.ANALYTICS,
        order_id=order_id,
        limit=settings.SHOPFLOW_SIDE_EFFECT_BATCH_SIZE,
    )
    if status is None:
        raise Order.DoesNotExist(f"order {order_id} does not exist")
    if due:
        orders = store_selectors.orders_for_processing(order_ids=due, with_customer=False)
        with transaction.atomic():
            # INSERT ... ON CONFLICT DO NOTHING: what another delivery recorded stays as is.
            insert_rows([_order_placed_event(order) for order in orders], ignore_conflicts=True)
            store_services.order_side_effects_mark_done(
                order_ids=[order.pk for order in orders], kind=OrderSideEffect.Kind.ANALYTICS
            )
    return order_id in due


def _order_placed_event(order) -> AnalyticsEvent:
    items = list(order.items.all())
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
