"""The side-effect tasks' reads of orders: one query for what they need, typed alike on
SQLite and on PostgreSQL."""

from datetime import datetime
from decimal import Decimal

import pytest

from store import selectors
from store.models import Order
from tests.factories import ProductFactory, UserFactory
from tests.support.clients import client_for
from tests.support.orders import place_order

pytestmark = pytest.mark.django_db


def test_order_for_processing_reads_typed_values_as_the_orm_does(customer, user):
    keyboard = ProductFactory(name="Keyboard", sku="KB-1", price=Decimal("49.90"))
    mouse = ProductFactory(name="Mouse", sku="MS-1", price=Decimal("19.05"))
    order_id = place_order(customer, (mouse, 1), (keyboard, 2))["id"]
    stored = Order.objects.get(pk=order_id)

    order = selectors.order_for_processing(order_id=order_id)

    assert order.pk == order_id
    assert order.total == Decimal("118.85") and isinstance(order.total, Decimal)
    assert isinstance(order.placed_at, datetime) and order.placed_at.tzinfo is not None
    assert order.placed_at == stored.placed_at
    assert order.status == Order.Status.PLACED
    assert order.customer.user.email == user.email
    items = order.line_items
    assert [(i.product.sku, i.product.name, i.quantity) for i in items] == [
        ("KB-1", "Keyboard", 2),
        ("MS-1", "Mouse", 1),
    ]  # in product order, as written
    assert [i.unit_price for i in items] == [Decimal("49.90"), Decimal("19.05")]
    assert all(item.order is order for item in items)


def test_order_for_processing_costs_one_query_and_defers_the_rest(
    customer, django_assert_num_queries
):
    order_id = place_order(customer, (ProductFactory(), 1))["id"]

    with django_assert_num_queries(1):
        order = selectors.order_for_processing(order_id=order_id)
        assert order.customer.user.username
        assert order.line_items[0].product.sku
    expected = Order.objects.get(pk=order_id).request_fingerprint
    with django_assert_num_queries(1):  # a field not read is loaded when asked for
        assert order.request_fingerprint == expected


def test_order_for_processing_without_the_customer(customer, django_assert_num_queries):
    other = UserFactory()
    product = ProductFactory()
    place_order(customer, (product, 1))
    order_id = place_order(other.customer, (product, 3), client=client_for(other))["id"]

    with django_assert_num_queries(1):
        order = selectors.order_for_processing(order_id=order_id, with_customer=False)
        assert order.pk == order_id
        assert order.customer_id == other.customer.pk
        assert [item.quantity for item in order.line_items] == [3]


def test_order_for_processing_of_an_unknown_order_raises():
    with pytest.raises(Order.DoesNotExist):
        selectors.order_for_processing(order_id=999_999)
