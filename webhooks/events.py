"""The events an endpoint may subscribe to, and the order and product as their `data`
shows them (docs/webhooks.md; webhooks.receivers builds each event's)."""

ORDER_CREATED = "order.created"
LOW_STOCK = "product.low_stock"
PRICE_CHANGED = "product.price_changed"
SIDE_EFFECT_FAILED = "order.side_effect_failed"
# Sent to one endpoint when staff ask for it (POST .../test/); not subscribed to.
TEST = "webhook.test"
EVENT_TYPES = (ORDER_CREATED, LOW_STOCK, PRICE_CHANGED, SIDE_EFFECT_FAILED)


def order_data(order) -> dict:
    """The order as GET /api/orders/{id}/ shows it, without its side effects: from the
    order as the checkout wrote it (its lines and their products in memory)."""
    # Imported when first used: store.serializers lists the side effects' kinds as it
    # loads, once every app registered its own, after the admin has loaded this module.
    from store.serializers import OrderSerializer

    data = dict(OrderSerializer(order).data)
    data.pop("side_effects", None)
    return data


def product_data(product, **extra) -> dict:
    from store.serializers import ProductSerializer

    return {**ProductSerializer(product).data, **extra}


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")
