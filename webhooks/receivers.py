"""The events staff may subscribe to: each receiver makes the deliveries of one, its data
fixed now, in the transaction of what happened (core.signals: the rows isolated from the
sender)."""

from . import events
from .services.deliveries import event_deliveries_create


def deliver_order_created(sender, order, **kwargs):
    event_deliveries_create(event_type=events.ORDER_CREATED, data=lambda: events.order_data(order))


def deliver_order_cancelled(sender, order, **kwargs):
    event_deliveries_create(
        event_type=events.ORDER_CANCELLED, data=lambda: events.order_data(order)
    )


def deliver_order_fulfilled(sender, order, **kwargs):
    event_deliveries_create(
        event_type=events.ORDER_FULFILLED, data=lambda: events.order_data(order)
    )


def deliver_low_stock(sender, product, order_id, available, **kwargs):
    event_deliveries_create(
        event_type=events.LOW_STOCK,
        data=lambda: {
            "product": events.product_data(product, available=available),
            "low_stock_threshold": product.low_stock_threshold,
            "order_id": order_id,
        },
    )


def deliver_price_changed(sender, change, **kwargs):
    event_deliveries_create(
        event_type=events.PRICE_CHANGED,
        data=lambda: {
            "product": events.product_data(change.product),
            "old_price": f"{change.old_price:.2f}",
            "new_price": f"{change.new_price:.2f}",
            "changed_at": events.iso(change.changed_at),
        },
    )


def deliver_side_effect_failed(sender, order_id, kind, error, **kwargs):
    event_deliveries_create(
        event_type=events.SIDE_EFFECT_FAILED,
        data=lambda: events.side_effect_failed_data(order_id=order_id, kind=kind, error=error),
    )
