from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from side_effects.services import side_effects_claim
from store import selectors as store_selectors

from .models import AnalyticsEvent, DailySummary
from .selectors import daily_summary

ANALYTICS = "analytics"  # the side effect kind (analytics_app.apps registers its task)


def analytics_record(*, order_id: int) -> bool:
    """Record the order_placed event of an order, once; True when this call recorded it.

    Orders whose analytics side effect is pending beside this one are recorded in the
    same statements (up to SHOPFLOW_SIDE_EFFECT_BATCH_SIZE), in one transaction with their
    side effects' done mark. Unique per order, so a concurrent delivery records nothing
    twice. Raises OrderSideEffect.DoesNotExist for an unknown order."""
    with transaction.atomic():
        claimed = side_effects_claim(
            kind=ANALYTICS, order_id=order_id, limit=settings.SHOPFLOW_SIDE_EFFECT_BATCH_SIZE
        )
        if not claimed:
            return False
        orders = store_selectors.orders_for_processing(order_ids=claimed, with_customer=False)
        # INSERT ... ON CONFLICT DO NOTHING: what another delivery recorded stays as is.
        AnalyticsEvent.objects.bulk_create(
            [_order_placed_event(order) for order in orders], ignore_conflicts=True
        )
    return order_id in claimed


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
