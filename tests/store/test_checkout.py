import logging
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from side_effects.models import OrderSideEffect
from store.models import Cart, Order, OrderItem, Product
from store.signals import order_created
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from worker.models import OutboxMessage

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_too]


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
    assert set(OrderSideEffect.objects.values_list("kind", "status")) == {
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


def test_checkout_enqueues_one_outbox_row_per_side_effect(client, customer, product):
    cart = cart_with(customer, (product, 1))
    order_id = checkout(client, cart.pk).json()["id"]

    assert sorted(order_outbox().values_list("task_name", "args")) == [
        ("analytics_app.record_analytics", [[order_id]]),
        ("email_app.send_confirmation_email", [[order_id]]),
        ("store.apply_inventory", [[order_id]]),
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


# --- Receivers ---------------------------------------------------------------------------


def test_failing_receiver_is_logged_and_the_order_and_other_receivers_go_on(
    client, customer, product, caplog
):
    ran = []

    def broken(sender, order, **kwargs):
        raise RuntimeError("receiver exploded")

    def after(sender, order, **kwargs):
        ran.append(order.pk)

    order_created.connect(broken, dispatch_uid="test.broken")
    order_created.connect(after, dispatch_uid="test.after")
    try:
        with caplog.at_level(logging.ERROR, logger="core.signals"):
            response = checkout(client, cart_with(customer, (product, 1)).pk)
    finally:
        order_created.disconnect(dispatch_uid="test.broken")
        order_created.disconnect(dispatch_uid="test.after")

    assert response.status_code == 201
    order_id = response.json()["id"]
    assert Order.objects.filter(pk=order_id).exists()
    assert ran == [order_id]
    # The app's own receivers ran too: their outbox rows are there.
    assert order_outbox(order_id).count() == 3
    [record] = [r for r in caplog.records if r.name == "core.signals"]
    assert "<locals>.broken failed" in record.getMessage()
    assert f"for order_created, order {order_id}" in record.getMessage()
    assert isinstance(record.exc_info[1], RuntimeError)
    assert "Traceback" in caplog.text and 'raise RuntimeError("receiver exploded")' in caplog.text


def test_receiver_writes_in_its_own_savepoint_commit_with_the_order(client, customer, product):
    from django.db import transaction

    def note(sender, order, **kwargs):
        with transaction.atomic():
            OrderSideEffect.objects.filter(order=order, kind="analytics").update(error="noted")

    def noted_then_failed(sender, order, **kwargs):
        with transaction.atomic():
            OrderSideEffect.objects.filter(order=order, kind="inventory").update(error="lost")
            OrderSideEffect.objects.create(order=order, kind="inventory")  # unique violation

    order_created.connect(note, dispatch_uid="test.note")
    order_created.connect(noted_then_failed, dispatch_uid="test.noted_then_failed")
    try:
        response = checkout(client, cart_with(customer, (product, 1)).pk)
    finally:
        order_created.disconnect(dispatch_uid="test.note")
        order_created.disconnect(dispatch_uid="test.noted_then_failed")

    assert response.status_code == 201
    errors = dict(
        OrderSideEffect.objects.filter(order_id=response.json()["id"]).values_list("kind", "error")
    )
    assert errors == {"analytics": "noted", "inventory": "", "confirmation_email": ""}


def test_a_receiver_that_raises_after_enqueueing_keeps_its_enqueue(client, customer, product):
    """As a write it made before would stand: a receiver is one line, and a call to
    enqueue_on_commit is a commitment, whatever the receiver does after."""
    from email_app.tasks import send_welcome_email
    from worker.outbox import enqueue_on_commit

    def half_done(sender, order, **kwargs):
        enqueue_on_commit(send_welcome_email, 424242)
        raise RuntimeError("after the enqueue")

    order_created.connect(half_done, dispatch_uid="test.half_done")
    try:
        response = checkout(client, cart_with(customer, (product, 1)).pk)
    finally:
        order_created.disconnect(dispatch_uid="test.half_done")

    assert response.status_code == 201
    assert order_outbox(response.json()["id"]).count() == 3
    assert OutboxMessage.objects.filter(args=[424242]).exists()


# --- Idempotency keys ----------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_the_same_order(client, customer, product):
    cart = cart_with(customer, (product, 2))
    first = checkout(client, cart.pk, **{"Idempotency-Key": "abc-123"})
    replay = checkout(client, cart.pk, **{"Idempotency-Key": "abc-123"})

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert order_outbox(first.json()["id"]).count() == 3  # no second signal
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
def test_checkout_takes_14_statements_and_talks_to_no_broker(lines):
    """Committed for real: BEGIN, the lines with their cart and product locks, the
    reservation, the duplicate check, order, items, side effects, two DELETEs for the
    cart, the receivers' rows (the outbox's and the customer's notification) in a
    savepoint, COMMIT. Nothing after it: the relay publishes the outbox rows. The token
    was looked up by the request before."""
    user = UserFactory()
    products = ProductFactory.create_batch(lines, on_hand=10)
    cart = cart_with(user.customer, *[(p, 1) for p in products])
    client = client_for(user)
    client.get("/api/orders/")  # the first request of a process fills caches

    with CaptureQueriesContext(connection) as queries:
        response = checkout(client, cart.pk)

    assert response.status_code == 201
    assert len(queries) == 14, "\n".join(q["sql"][:120] for q in queries.captured_queries)
    assert queries.captured_queries[-1]["sql"] == "COMMIT"
    assert order_outbox(response.json()["id"]).filter(published_at=None).count() == 3


def test_core_audit_receiver_logs_one_line_per_order(client, customer, product, caplog):
    with caplog.at_level(logging.INFO, logger="shopflow.audit"):
        order_id = checkout(client, cart_with(customer, (product, 2)).pk).json()["id"]
    lines = [r.getMessage() for r in caplog.records if r.name == "shopflow.audit"]
    assert lines == [f"order_created order={order_id} customer={customer.pk} total=25.00"]
