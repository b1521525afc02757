"""Orders as a customer places them: a cart of theirs, then `POST /api/orders/`; and what
an order leaves behind: its outbox rows, its products' stock, its inventory side effect."""

from side_effects.models import OrderSideEffect
from store.models import Order, OrderItem
from tests.factories import ProductFactory, cart_with
from tests.support.clients import client_for
from worker.models import OutboxMessage


def place_order(customer, *lines, client=None, headers=None) -> dict:
    """Place an order of `lines` ((product, quantity); one new product when none) through
    the API as `customer` (`client`, else their token), assert the 201, return the order."""
    cart = cart_with(customer, *(lines or [(ProductFactory(), 1)]))
    client = client or client_for(customer.user)
    response = client.post(
        "/api/orders/", {"cart_id": str(cart.pk)}, format="json", headers=headers or {}
    )
    assert response.status_code == 201, response.json()
    return response.json()


def checkout(client, cart_id, **headers):
    return client.post("/api/orders/", {"cart_id": str(cart_id)}, format="json", headers=headers)


def order_outbox(order_id=None):
    """Outbox rows of orders (the welcome email of a new user is not one)."""
    rows = OutboxMessage.objects.exclude(task_name="email_app.send_welcome_email")
    return rows if order_id is None else rows.filter(args=[[order_id]])


def assert_nothing_written(product_stock=None):
    assert Order.objects.count() == 0
    assert OrderItem.objects.count() == 0
    assert not order_outbox().exists()
    for product, reserved in (product_stock or {}).items():
        product.refresh_from_db()
        assert product.reserved == reserved


def stock(product) -> tuple[int, int]:
    product.refresh_from_db()
    return product.on_hand, product.reserved


def inventory_status(order_id) -> str:
    return OrderSideEffect.objects.get(order_id=order_id, kind="inventory").status
