"""The order_placed analytics row, written in the request that placed the order."""

from .models import AnalyticsEvent


def record_order(sender, order, **kwargs):
    items = order.line_items
    AnalyticsEvent.objects.create(
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
