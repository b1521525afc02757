"""The side-effect tasks' reads: hand-written SQL that must give what the ORM would, on
SQLite and on PostgreSQL alike."""

from datetime import datetime
from decimal import Decimal

import pytest

from store import selectors
from store.models import Order, OrderSideEffect
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory, cart_with

pytestmark = pytest.mark.django_db


def place(client, customer, *lines) -> int:
    cart = cart_with(customer, *lines)
    response = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_orders_for_processing_reads_typed_values_as_the_orm_does(client, customer, user):
    keyboard = ProductFactory(name="Keyboard", sku="KB-1", price=Decimal("49.90"))
    mouse = ProductFactory(name="Mouse", sku="MS-1", price=Decimal("19.05"))
    order_id = place(client, customer, (mouse, 1), (keyboard, 2))
    stored = Order.objects.get(pk=order_id)

    [order] = selectors.orders_for_processing(order_ids=[order_id])

    assert order.pk == order_id
    assert order.total == Decimal("118.85") and isinstance(order.total, Decimal)
    assert isinstance(order.placed_at, datetime) and order.placed_at.tzinfo is not None
    assert order.placed_at == stored.placed_at
    assert order.status == Order.Status.PLACED
    assert order.customer.user.email == user.email
    items = list(order.items.all())
    assert [(i.product.sku, i.product.name, i.quantity) for i in items] == [
        ("KB-1", "Keyboard", 2),
        ("MS-1", "Mouse", 1),
    ]  # in product order, as written
    assert [i.unit_price for i in items] == [Decimal("49.90"), Decimal("19.05")]
    assert all(item.order is order for item in items)


def test_orders_for_processing_costs_one_query_and_defers_the_rest(
    client, customer, django_assert_num_queries
):
    order_id = place(client, customer, (ProductFactory(), 1))

    with django_assert_num_queries(1):
        [order] = selectors.orders_for_processing(order_ids=[order_id])
        assert order.customer.user.username
        assert order.items.all()[0].product.sku
    expected = Order.objects.get(pk=order_id).request_fingerprint
    with django_assert_num_queries(1):  # a field not read is loaded when asked for
        assert order.request_fingerprint == expected


def test_orders_for_processing_of_several_orders_without_customers(client, customer):
    other = UserFactory()
    product = ProductFactory()
    first = place(client, customer, (product, 1))
    second = place(client_for(other), other.customer, (product, 3))

    orders = selectors.orders_for_processing(
        order_ids=[second, first, 999_999], with_customer=False
    )

    assert [o.pk for o in orders] == [first, second]  # unknown ids left out
    assert [o.customer_id for o in orders] == [customer.pk, other.customer.pk]
    assert [o.items.all()[0].quantity for o in orders] == [1, 3]


def test_order_for_processing_of_an_unknown_order_raises():
    with pytest.raises(Order.DoesNotExist):
        selectors.order_for_processing(order_id=999_999)


def test_side_effects_due_gives_the_orders_status_and_the_oldest_pending(client, customer):
    product = ProductFactory()
    orders = [place(client, customer, (product, 1)) for _ in range(4)]
    OrderSideEffect.objects.filter(order_id=orders[1], kind="analytics").update(status="done")

    status, due = selectors.side_effects_due(kind="analytics", order_id=orders[1], limit=2)

    assert status == "done"
    assert due == [orders[0], orders[2]]
    assert selectors.side_effects_due(kind="analytics", order_id=999_999, limit=2) == (
        None,
        [orders[0], orders[2]],
    )


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction
def test_side_effects_due_refuses_to_lock_outside_a_transaction():
    from django.db.transaction import TransactionManagementError

    with pytest.raises(TransactionManagementError):
        selectors.side_effects_due(kind="inventory", order_id=1, limit=1, lock=True)
