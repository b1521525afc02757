"""Orders as a customer places them: a cart of theirs, then `POST /api/orders/`."""

from tests.factories import ProductFactory, cart_with
from tests.support.clients import client_for


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
