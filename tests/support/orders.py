"""Orders as a customer places them: a cart of theirs, then `POST /api/orders/`; and what
an order leaves behind: its jobs, its products' stock, its inventory side effect."""

from store.models import Order, OrderItem
from tests.factories import ProductFactory, cart_with
from tests.support.clients import client_for
from tests.support.jobs import order_jobs, side_effect_status


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


def assert_nothing_written(product_stock=None):
    assert Order.objects.count() == 0
    assert OrderItem.objects.count() == 0
    assert not order_jobs().exists()
    for product, reserved in (product_stock or {}).items():
        product.refresh_from_db()
        assert product.reserved == reserved


def stock(product) -> tuple[int, int]:
    product.refresh_from_db()
    return product.on_hand, product.reserved


def inventory_status(order_id) -> str:
    return side_effect_status(order_id, "inventory")
