"""Idempotency keys on the checkout: the same key and body replay the first answer (one
order, one signal), the same key with another body is a 422, keys are per customer, and a
key too long or with unprintable characters is a 400 with nothing written."""

import pytest

from store.models import Cart, Order
from store.signals import order_created
from tests.factories import UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.jobs import order_jobs
from tests.support.orders import assert_nothing_written, checkout

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_too]


def test_same_idempotency_key_and_body_returns_the_same_order(client, customer, product):
    cart = cart_with(customer, (product, 2))
    signalled = []

    def spy(sender, order, **kwargs):
        signalled.append(order.pk)

    order_created.connect(spy, dispatch_uid="test.spy")
    try:
        first = checkout(client, cart.pk, **{"Idempotency-Key": "abc-123"})
        replay = checkout(client, cart.pk, **{"Idempotency-Key": "abc-123"})
    finally:
        order_created.disconnect(dispatch_uid="test.spy")

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert signalled == [first.json()["id"]]  # no second signal
    assert order_jobs(first.json()["id"]).count() == 3
    product.refresh_from_db()
    assert product.reserved == 2


def test_same_idempotency_key_with_another_body_is_422(client, customer, product):
    first_cart = cart_with(customer, (product, 1))
    other_cart = cart_with(customer, (product, 1))
    assert checkout(client, first_cart.pk, **{"Idempotency-Key": "k1"}).status_code == 201

    response = checkout(client, other_cart.pk, **{"Idempotency-Key": "k1"})

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert Order.objects.count() == 1
    assert Cart.objects.filter(pk=other_cart.pk).exists()


def test_idempotency_keys_are_per_customer(client, customer, product):
    other = UserFactory()
    assert checkout(client, cart_with(customer, (product, 1)).pk, **{"Idempotency-Key": "same"})
    response = checkout(
        client_for(other), cart_with(other.customer, (product, 1)).pk, **{"Idempotency-Key": "same"}
    )
    assert response.status_code == 201
    assert Order.objects.count() == 2


@pytest.mark.parametrize("key", ["k" * 300, "null\x00byte", "tab\tkey", "caf\u00e9"])
def test_overlong_or_unprintable_idempotency_key_is_400(client, customer, product, key):
    response = checkout(client, cart_with(customer, (product, 1)).pk, **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert_nothing_written({product: 0})
