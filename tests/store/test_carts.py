import uuid

import pytest

from store.models import Cart, CartItem
from store.services.carts import cart_item_add
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_too]


def new_cart(client) -> str:
    response = client.post("/api/carts/", format="json")
    assert response.status_code == 201
    return response.json()["id"]


def add(client, cart_id, product_id, quantity):
    return client.post(
        f"/api/carts/{cart_id}/items/",
        {"product_id": product_id, "quantity": quantity},
        format="json",
    )


def test_new_cart_is_empty_with_zero_total(client):
    response = client.post("/api/carts/", format="json")
    assert response.status_code == 201
    body = response.json()
    assert uuid.UUID(body["id"])
    assert body["items"] == [] and body["total"] == "0.00"


def test_adding_the_same_product_twice_adds_up(client, product):
    cart_id = new_cart(client)
    assert add(client, cart_id, product.pk, 2).status_code == 201
    response = add(client, cart_id, product.pk, 3)

    assert response.status_code == 201
    assert response.json()["quantity"] == 5
    cart = client.get(f"/api/carts/{cart_id}/").json()
    assert cart["total"] == "62.50"


def test_patch_sets_quantity_and_delete_removes_the_line(client, product):
    cart_id = new_cart(client)
    item_id = add(client, cart_id, product.pk, 2).json()["id"]

    patched = client.patch(f"/api/carts/{cart_id}/items/{item_id}/", {"quantity": 7}, format="json")
    assert patched.status_code == 200 and patched.json()["quantity"] == 7

    deleted = client.delete(f"/api/carts/{cart_id}/items/{item_id}/")
    assert deleted.status_code == 204
    assert not CartItem.objects.filter(pk=item_id).exists()


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "two", None, 10_001])
def test_bad_quantities_are_400_and_add_nothing(client, product, quantity):
    cart_id = new_cart(client)
    response = add(client, cart_id, product.pk, quantity)
    assert response.status_code == 400
    assert "quantity" in response.json() and "detail" in response.json()
    assert not CartItem.objects.exists()


def test_bad_quantity_on_patch_is_400_and_keeps_the_line(client, product):
    cart_id = new_cart(client)
    item_id = add(client, cart_id, product.pk, 2).json()["id"]
    response = client.patch(
        f"/api/carts/{cart_id}/items/{item_id}/", {"quantity": 0}, format="json"
    )
    assert response.status_code == 400
    assert CartItem.objects.get(pk=item_id).quantity == 2


def test_unknown_product_is_400(client):
    cart_id = new_cart(client)
    response = add(client, cart_id, 999_999, 1)
    assert response.status_code == 400
    assert response.json()["detail"] == "product_id: Unknown product."
    assert not CartItem.objects.exists()


def test_adding_past_the_line_limit_is_400(client, product):
    cart_id = new_cart(client)
    add(client, cart_id, product.pk, 10_000)
    response = add(client, cart_id, product.pk, 1)
    assert response.status_code == 400
    assert CartItem.objects.get(cart_id=cart_id).quantity == 10_000


def test_someone_elses_cart_is_404_for_every_operation(client, product):
    stranger = UserFactory()
    cart = cart_with(stranger.customer, (product, 1))
    item = cart.items.get()

    assert client.get(f"/api/carts/{cart.pk}/").status_code == 404
    assert add(client, cart.pk, product.pk, 1).status_code == 404
    patch = client.patch(f"/api/carts/{cart.pk}/items/{item.pk}/", {"quantity": 5}, format="json")
    assert patch.status_code == 404
    assert client.delete(f"/api/carts/{cart.pk}/items/{item.pk}/").status_code == 404
    item.refresh_from_db()
    assert item.quantity == 1


def test_unknown_and_malformed_cart_ids_are_json_404(client):
    assert client.get(f"/api/carts/{uuid.uuid4()}/").json() == {"detail": "Cart not found."}
    response = client.get("/api/carts/not-a-uuid/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_carts_need_credentials(anon_client):
    assert anon_client.post("/api/carts/", format="json").status_code == 401
    assert not Cart.objects.exists()


def test_product_list_is_paginated_with_available_stock(client):
    ProductFactory.create_batch(25, on_hand=7, reserved=2)
    body = client.get("/api/products/").json()
    assert body["count"] == 25 and len(body["results"]) == 20 and body["next"]
    first = body["results"][0]
    assert set(first) == {"id", "sku", "name", "price", "currency", "available"}
    assert first["available"] == 5 and first["price"] == "10.00"


def test_product_detail_and_unknown_product(client, product):
    assert client.get(f"/api/products/{product.pk}/").json()["sku"] == product.sku
    assert client.get("/api/products/999999/").status_code == 404


def test_users_only_see_their_own_carts(client, customer, product):
    mine = cart_with(customer, (product, 1))
    cart_with(UserFactory().customer, (product, 1))
    other_client = client_for(UserFactory())
    assert [c["id"] for c in client.get("/api/carts/").json()["results"]] == [str(mine.pk)]
    assert other_client.get("/api/carts/").json()["results"] == []


def test_adding_to_a_cart_checked_out_meanwhile_is_404_not_500(client, customer, product):
    from store.exceptions import CartNotFound

    cart = cart_with(customer, (product, 1))
    assert client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").status_code == 201

    with pytest.raises(CartNotFound):
        cart_item_add(customer=customer, cart_id=cart.pk, product_id=product.pk, quantity=1)
    assert not CartItem.objects.filter(cart_id=cart.pk).exists()


def test_changing_an_item_removed_meanwhile_is_404(client, product):
    cart_id = new_cart(client)
    item_id = add(client, cart_id, product.pk, 2).json()["id"]
    CartItem.objects.filter(pk=item_id).delete()

    response = client.patch(
        f"/api/carts/{cart_id}/items/{item_id}/", {"quantity": 3}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["detail"] == "Cart item not found."
