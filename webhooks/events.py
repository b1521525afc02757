"""The events an endpoint may subscribe to, and the order and product as their `data`
shows them (docs/webhooks.md; webhooks.receivers builds each event's)."""

import json
from pathlib import Path

ORDER_CREATED = "order.created"
ORDER_CANCELLED = "order.cancelled"
ORDER_FULFILLED = "order.fulfilled"
LOW_STOCK = "product.low_stock"
PRICE_CHANGED = "product.price_changed"
SIDE_EFFECT_FAILED = "order.side_effect_failed"
# Sent to one endpoint when staff ask for it (POST .../test/); not subscribed to.
TEST = "webhook.test"
EVENT_TYPES = (
    ORDER_CREATED,
    ORDER_CANCELLED,
    ORDER_FULFILLED,
    LOW_STOCK,
    PRICE_CHANGED,
    SIDE_EFFECT_FAILED,
)
# An order.* event's `sequence`, by the order's status as the event leaves it: an order is
# created, then cancelled or fulfilled, once each at most, so a receiver that got 2 drops
# a late 1. A side effect's failure carries the order's as it stands (1 while placed).
SEQUENCE = {"placed": 1, "cancelled": 2, "fulfilled": 2}
# The JSON Schema of each event type's body, kept beside this module (one file a type).
SCHEMAS = Path(__file__).resolve().parent / "schemas"


def event_schemas() -> dict[str, dict]:
    """{event type: its JSON Schema}, the test event's too."""
    return {
        kind: json.loads((SCHEMAS / f"{kind}.json").read_text()) for kind in (*EVENT_TYPES, TEST)
    }


def order_data(order) -> dict:
    """The order as GET /api/orders/{id}/ shows it, without its side effects, with
    `order_of` (its sequence and customer): from the order as the change wrote it (at
    checkout its lines and their products are in memory)."""
    # Imported when first used: store.serializers lists the side effects' kinds as it
    # loads, once every app registered its own, after the admin has loaded this module.
    from store.serializers import OrderSerializer

    if not hasattr(order, "line_items"):
        order.line_items = list(order.items.select_related("product"))
    data = dict(OrderSerializer(order).data)
    data.pop("side_effects", None)
    return {**data, **order_of(order)}


def side_effect_failed_data(*, order_id: int, kind: str, error: str) -> dict:
    """The failure, with what every order.* event carries (the order's id, and
    `order_of`)."""
    from store.selectors import order_for_processing

    order = order_for_processing(order_id=order_id)  # its status and customer, one query
    failure = {"id": order.pk, "order_id": order.pk, "side_effect": kind, "error": error}
    return {**failure, **order_of(order)}


def order_of(order) -> dict:
    """What every order.* event's data carries beside the order's id: its `sequence` and
    its `customer`."""
    customer = {"id": order.customer_id, "email": order.customer.user.email}
    return {"sequence": SEQUENCE[order.status], "customer": customer}


def product_data(product, **extra) -> dict:
    from store.serializers import ProductSerializer

    return {**ProductSerializer(product).data, **extra}


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")
