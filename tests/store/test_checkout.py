"""The checkout (`POST /api/orders/`): an order of the cart's lines at their prices, stock
reserved, the cart gone, one job per side effect and `order_created` sent once; bad
input refused with nothing written; and the statements it takes, the same for one line as
for fifty, none of them to a broker."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from store.models import Cart, Order, Product
from store.signals import order_created
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.jobs import order_jobs
from tests.support.orders import assert_nothing_written, checkout

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_too]


def test_checkout_creates_order_reserves_stock_and_empties_cart(client, customer):
    mug = ProductFactory(name="Mug", price=Decimal("12.50"), on_hand=10)
    tee = ProductFactory(name="Tee", price=Decimal("20.00"), on_hand=5)
    cart = cart_with(customer, (mug, 2), (tee, 1))

    response = checkout(client, cart.pk)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "placed"
    assert body["total"] == "45.00"
    assert {(i["name"], i["quantity"], i["unit_price"]) for i in body["items"]} == {
        ("Mug", 2, "12.50"),
        ("Tee", 1, "20.00"),
    }
    assert body["side_effects"] == {
        "confirmation_email": "pending",
        "inventory": "pending",
        "analytics": "pending",
    }
    mug.refresh_from_db()
    tee.refresh_from_db()
    assert (mug.on_hand, mug.reserved, mug.available) == (10, 2, 8)
    assert (tee.on_hand, tee.reserved) == (5, 1)
    assert not Cart.objects.filter(pk=cart.pk).exists()
    assert set(order_jobs(body["id"]).values_list("kind", "status")) == {
        ("confirmation_email", "pending"),
        ("inventory", "pending"),
        ("analytics", "pending"),
    }


def test_checkout_captures_unit_price_at_checkout(client, customer, product):
    cart = cart_with(customer, (product, 1))
    order_id = checkout(client, cart.pk).json()["id"]

    Product.objects.filter(pk=product.pk).update(price=Decimal("99.00"))

    body = client.get(f"/api/orders/{order_id}/").json()
    assert body["items"][0]["unit_price"] == "12.50"
    assert body["total"] == "12.50"


def test_checkout_enqueues_one_job_per_side_effect(client, customer, product):
    cart = cart_with(customer, (product, 1))
    order_id = checkout(client, cart.pk).json()["id"]

    assert sorted(order_jobs().values_list("kind", "key", "status", "attempts")) == [
        ("analytics", str(order_id), "pending", 0),
        ("confirmation_email", str(order_id), "pending", 0),
        ("inventory", str(order_id), "pending", 0),
    ]


def test_order_created_is_sent_once_with_the_order(client, customer, product):
    seen = []

    def spy(sender, order, **kwargs):
        seen.append(order.pk)

    order_created.connect(spy, dispatch_uid="test.spy")
    try:
        order_id = checkout(client, cart_with(customer, (product, 1)).pk).json()["id"]
    finally:
        order_created.disconnect(dispatch_uid="test.spy")
    assert seen == [order_id]


# --- Bad input -------------------------------------------------------------------------


def test_unknown_cart_is_404_and_writes_nothing(client, product):
    response = checkout(client, uuid.uuid4())
    assert response.status_code == 404
    assert response.json()["detail"] == "Cart not found."
    assert_nothing_written()


def test_malformed_cart_id_is_400_naming_the_field(client):
    response = client.post("/api/orders/", {"cart_id": "not-a-uuid"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "cart_id" in body and "detail" in body
    assert_nothing_written()


def test_missing_cart_id_is_400(client):
    response = client.post("/api/orders/", {}, format="json")
    assert response.status_code == 400
    assert "cart_id" in response.json()


def test_someone_elses_cart_is_404_not_403(client, product):
    stranger = UserFactory()
    cart = cart_with(stranger.customer, (product, 1))

    response = checkout(client, cart.pk)

    assert response.status_code == 404
    assert Cart.objects.filter(pk=cart.pk).exists()
    assert_nothing_written({product: 0})


def test_empty_cart_is_400(client, customer):
    cart = Cart.objects.create(customer=customer)
    response = checkout(client, cart.pk)
    assert response.status_code == 400
    assert response.json()["detail"] == "cart_id: The cart is empty."
    assert Cart.objects.filter(pk=cart.pk).exists()
    assert_nothing_written()


def test_more_than_available_is_409_naming_products_and_reserves_nothing(client, customer):
    plenty = ProductFactory(name="Plenty", on_hand=100)
    scarce = ProductFactory(name="Scarce", sku="SCARCE-1", on_hand=3)
    cart = cart_with(customer, (plenty, 5), (scarce, 4))

    response = checkout(client, cart.pk)

    assert response.status_code == 409
    body = response.json()
    assert "Scarce (SCARCE-1)" in body["detail"]
    assert "Plenty" not in body["detail"]
    assert body["products"] == [
        {"product_id": scarce.pk, "sku": "SCARCE-1", "requested": 4, "available": 3}
    ]
    assert Cart.objects.filter(pk=cart.pk).exists()
    assert_nothing_written({plenty: 0, scarce: 0})


def test_reserved_stock_counts_against_available(client, customer):
    product = ProductFactory(on_hand=5, reserved=3)
    response = checkout(client, cart_with(customer, (product, 3)).pk)
    assert response.status_code == 409
    assert response.json()["products"][0]["available"] == 2


def test_deactivated_product_cannot_be_checked_out(client, customer):
    product = ProductFactory(on_hand=5)
    cart = cart_with(customer, (product, 1))
    Product.objects.filter(pk=product.pk).update(is_active=False)
    response = checkout(client, cart.pk)
    assert response.status_code == 409
    assert_nothing_written({product: 0})


def test_no_token_is_401(anon_client, customer, product):
    cart = cart_with(customer, (product, 1))
    response = checkout(anon_client, cart.pk)
    assert response.status_code == 401
    assert "detail" in response.json()
    assert_nothing_written({product: 0})


def test_wrong_token_is_401(anon_client, customer, product):
    anon_client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = checkout(anon_client, cart_with(customer, (product, 1)).pk)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_malformed_json_is_400(client, customer, product):
    cart_with(customer, (product, 1))
    response = client.post("/api/orders/", data='{"cart_id": ', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert_nothing_written({product: 0})


def test_cart_checked_out_twice_in_a_row_gives_one_order(client, customer, product):
    cart = cart_with(customer, (product, 2))
    assert checkout(client, cart.pk).status_code == 201
    second = checkout(client, cart.pk)
    assert second.status_code == 404
    assert Order.objects.count() == 1
    product.refresh_from_db()
    assert product.reserved == 2


# --- Query count -----------------------------------------------------------------------------


def _checkout_queries(client, customer, lines: int) -> int:
    products = ProductFactory.create_batch(lines, on_hand=10)
    cart = cart_with(customer, *[(p, 1) for p in products])
    client.get(f"/api/carts/{cart.pk}/")  # the token, looked up once, then kept a while
    with CaptureQueriesContext(connection) as queries:
        response = checkout(client, cart.pk)
    assert response.status_code == 201
    assert len(response.json()["items"]) == lines
    return len(queries)


def test_checkout_query_count_does_not_grow_with_cart_size(client, customer):
    assert _checkout_queries(client, customer, 1) == _checkout_queries(client, customer, 50)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lines", [1, 50])
def test_checkout_commits_in_14_statements_and_talks_to_no_broker(lines):
    """Committed for real: BEGIN, the lines with their cart and product locks, the
    reservation, the duplicate check, order, items, the side effects' jobs, two DELETEs
    for the cart, the receivers' rows (the customer's notification and its job) in a
    savepoint, COMMIT. Nothing after it: the dispatcher wakes the workers. The token was
    looked up by the request before."""
    user = UserFactory()
    products = ProductFactory.create_batch(lines, on_hand=10)
    cart = cart_with(user.customer, *[(p, 1) for p in products])
    client = client_for(user)
    client.get("/api/orders/")  # the first request of a process fills caches

    with CaptureQueriesContext(connection) as queries:
        response = checkout(client, cart.pk)

    assert response.status_code == 201
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 14, "\n".join(sql[:120] for sql in statements)
    assert statements[13] == "COMMIT"
    assert order_jobs(response.json()["id"]).filter(status="pending").count() == 3
