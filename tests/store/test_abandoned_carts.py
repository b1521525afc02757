"""Abandoned carts: those not touched for longer than the cutoff are removed with their
items, a cart a customer adds to is touched again, and the scheduled task takes its cutoff
from SHOPFLOW_ABANDONED_CART_DAYS."""

from datetime import timedelta

import pytest
from django.utils import timezone

from store.models import Cart, CartItem
from store.services.carts import carts_remove_abandoned
from store.tasks import remove_abandoned_carts
from tests.factories import cart_with

pytestmark = pytest.mark.django_db


def age(cart, days) -> None:
    Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now() - timedelta(days=days))


def test_remove_abandoned_deletes_only_carts_older_than_the_cutoff(customer, product):
    old = cart_with(customer, (product, 1))
    older = cart_with(customer)
    fresh = cart_with(customer, (product, 2))
    recent = cart_with(customer)
    age(old, 31)
    age(older, 90)
    age(recent, 29)

    removed = carts_remove_abandoned(older_than=timedelta(days=30))

    assert removed == 2
    assert set(Cart.objects.values_list("pk", flat=True)) == {fresh.pk, recent.pk}
    assert not CartItem.objects.filter(cart_id=old.pk).exists()
    assert CartItem.objects.filter(cart_id=fresh.pk).count() == 1


def test_remove_abandoned_with_nothing_to_remove_returns_zero(customer):
    cart_with(customer)

    assert carts_remove_abandoned(older_than=timedelta(days=30)) == 0
    assert Cart.objects.count() == 1


def test_touching_a_cart_keeps_it_from_being_removed(client, customer, product):
    cart = cart_with(customer)
    age(cart, 40)

    response = client.post(
        f"/api/carts/{cart.pk}/items/", {"product_id": product.pk, "quantity": 1}, format="json"
    )
    assert response.status_code == 201, response.json()

    assert carts_remove_abandoned(older_than=timedelta(days=30)) == 0
    assert Cart.objects.filter(pk=cart.pk).exists()


def test_scheduled_task_uses_the_abandoned_cart_setting(settings, customer):
    settings.SHOPFLOW_ABANDONED_CART_DAYS = 10
    stale = cart_with(customer)
    kept = cart_with(customer)
    age(stale, 11)
    age(kept, 9)

    assert remove_abandoned_carts() == 1

    assert list(Cart.objects.values_list("pk", flat=True)) == [kept.pk]
