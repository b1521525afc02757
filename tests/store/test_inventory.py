"""Applying an order's stock: once, with a ledger; low-stock alerts on the crossing only;
abandoned carts; and the database constraints that keep stock from going negative."""

import logging
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from side_effects.models import OrderSideEffect
from store.models import Cart, CartItem, Product, StockMovement
from store.services.carts import carts_remove_abandoned
from store.services.stock import inventory_apply
from store.signals import low_stock
from store.tasks import apply_inventory, remove_abandoned_carts
from tests.factories import ProductFactory, cart_with
from tests.support.orders import place_order
from worker.models import OutboxMessage

pytestmark = pytest.mark.django_db

LOW_STOCK_TASK = "email_app.send_low_stock_alert"


def stock(product) -> tuple[int, int]:
    product.refresh_from_db()
    return product.on_hand, product.reserved


def inventory_status(order_id) -> str:
    return OrderSideEffect.objects.get(order_id=order_id, kind="inventory").status


@pytest.fixture
def low_stock_calls():
    """Every low_stock send, as (product_id, order_id, available)."""
    calls = []

    def record(sender, product, order_id, available, **kwargs):
        calls.append((product.pk, order_id, available))

    low_stock.connect(record, dispatch_uid="tests.store.test_inventory.record")
    yield calls
    low_stock.disconnect(dispatch_uid="tests.store.test_inventory.record")


def low_stock_outbox():
    return list(
        OutboxMessage.objects.filter(task_name=LOW_STOCK_TASK)
        .order_by("id")
        .values_list("args", flat=True)
    )


# --- Applying an order -----------------------------------------------------------------


def test_apply_moves_reserved_units_out_of_on_hand(customer):
    mug = ProductFactory(on_hand=10)
    tee = ProductFactory(on_hand=7)
    order_id = place_order(customer, (mug, 3), (tee, 2))["id"]
    assert stock(mug) == (10, 3)

    assert inventory_apply(order_ids=[order_id]) == [order_id]

    assert stock(mug) == (7, 0)
    assert stock(tee) == (5, 0)


def test_apply_writes_one_stock_movement_per_order_item(customer):
    mug = ProductFactory(on_hand=10)
    tee = ProductFactory(on_hand=7)
    order_id = place_order(customer, (mug, 3), (tee, 2))["id"]

    inventory_apply(order_ids=[order_id])

    movements = StockMovement.objects.filter(order_item__order_id=order_id)
    assert sorted(movements.values_list("product_id", "delta", "reason")) == sorted(
        [(mug.pk, -3, "sale"), (tee.pk, -2, "sale")]
    )


def test_a_sale_and_its_inventory_run_touch_the_products_updated_at(customer):
    mug = ProductFactory(on_hand=10)
    Product.objects.filter(pk=mug.pk).update(updated_at=timezone.now() - timedelta(days=1))
    stamps = [Product.objects.get(pk=mug.pk).updated_at]

    order_id = place_order(customer, (mug, 2))["id"]  # the reservation
    stamps.append(Product.objects.get(pk=mug.pk).updated_at)
    inventory_apply(order_ids=[order_id])  # the units leave stock on hand
    stamps.append(Product.objects.get(pk=mug.pk).updated_at)

    assert stamps[0] < stamps[1] < stamps[2]
    assert stamps[1] > timezone.now() - timedelta(minutes=1)


def test_second_apply_returns_false_and_changes_nothing(customer):
    mug = ProductFactory(on_hand=10)
    order_id = place_order(customer, (mug, 4))["id"]
    assert inventory_apply(order_ids=[order_id]) == [order_id]

    assert inventory_apply(order_ids=[order_id]) == []

    assert stock(mug) == (6, 0)
    assert list(StockMovement.objects.filter(product=mug).values_list("delta", flat=True)) == [-4]


def test_apply_marks_the_inventory_side_effect_done(client, customer, product):
    order_id = place_order(customer, (product, 1))["id"]
    assert inventory_status(order_id) == "pending"

    inventory_apply(order_ids=[order_id])

    assert inventory_status(order_id) == "done"
    body = client.get(f"/api/orders/{order_id}/").json()
    assert body["side_effects"]["inventory"] == "done"


def test_apply_leaves_other_orders_reservations_alone(customer):
    mug = ProductFactory(on_hand=10)
    first = place_order(customer, (mug, 2))["id"]
    second = place_order(customer, (mug, 3))["id"]

    inventory_apply(order_ids=[first])

    assert stock(mug) == (8, 3)
    assert inventory_status(second) == "pending"


def test_applying_several_orders_at_once_applies_each_once(client, customer):
    statements_for_one = _statements_for_one_order(client, customer)
    StockMovement.objects.all().delete()
    mug, tee = ProductFactory(on_hand=10), ProductFactory(on_hand=10)
    first = place_order(customer, (mug, 2))["id"]
    second = place_order(customer, (mug, 3), (tee, 1))["id"]
    third = place_order(customer, (tee, 4))["id"]

    with CaptureQueriesContext(connection) as queries:
        assert inventory_apply(order_ids=[first, second, third]) == [first, second, third]

    assert stock(mug) == (5, 0) and stock(tee) == (5, 0)
    assert {inventory_status(o) for o in (first, second, third)} == {"done"}
    assert StockMovement.objects.count() == 4
    # The claim, the items, the product locks, the ledger, the stock: as for one order.
    assert len(queries) == statements_for_one
    # A later delivery of any of them finds the work done.
    assert inventory_apply(order_ids=[second, first]) == []
    assert stock(mug) == (5, 0) and StockMovement.objects.count() == 4


def _statements_for_one_order(client, customer) -> int:
    mug, tee = ProductFactory(on_hand=10), ProductFactory(on_hand=10)
    order_id = place_order(customer, (mug, 1), (tee, 1))["id"]
    with CaptureQueriesContext(connection) as queries:
        inventory_apply(order_ids=[order_id])
    return len(queries)


def test_apply_of_unknown_orders_applies_nothing_and_the_known_ones_all_the_same(customer):
    mug = ProductFactory(on_hand=10)
    order_id = place_order(customer, (mug, 1))["id"]

    assert inventory_apply(order_ids=[999_999]) == []
    assert inventory_apply(order_ids=[999_999, order_id]) == [order_id]
    assert stock(mug) == (9, 0)


def test_task_called_directly_applies_once(customer):
    mug = ProductFactory(on_hand=10)
    order_id = place_order(customer, (mug, 4))["id"]

    assert apply_inventory([order_id]) == [order_id]
    assert apply_inventory([str(order_id)]) == []  # ids may arrive as strings
    assert apply_inventory(order_id) == []  # a message of the shape before batches: one id

    assert stock(mug) == (6, 0)
    assert inventory_status(order_id) == "done"


def test_task_for_unknown_order_does_nothing():
    assert apply_inventory([999_999]) == []


# --- Low-stock alerts ------------------------------------------------------------------


def test_crossing_the_threshold_sends_low_stock_once(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 16))["id"]  # available 20 -> 4

    inventory_apply(order_ids=[order_id])
    inventory_apply(order_ids=[order_id])  # a replay alerts nothing more

    assert low_stock_calls == [(lamp.pk, order_id, 4)]


def test_low_stock_receiver_enqueues_the_alert_email_through_the_outbox(customer):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 16))["id"]
    assert low_stock_outbox() == []

    inventory_apply(order_ids=[order_id])

    assert low_stock_outbox() == [[lamp.pk, order_id]]
    message = OutboxMessage.objects.get(task_name=LOW_STOCK_TASK)
    assert message.published_at is None  # publishing waits for a commit


def test_starting_exactly_at_the_threshold_and_going_below_alerts(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=5, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 1))["id"]  # 5 -> 4

    inventory_apply(order_ids=[order_id])

    assert low_stock_calls == [(lamp.pk, order_id, 4)]


def test_landing_exactly_on_the_threshold_does_not_alert(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 15))["id"]  # 20 -> 5: not below yet

    inventory_apply(order_ids=[order_id])

    assert low_stock_calls == []
    assert low_stock_outbox() == []


def test_still_above_the_threshold_does_not_alert(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 10))["id"]

    inventory_apply(order_ids=[order_id])

    assert low_stock_calls == []
    assert low_stock_outbox() == []


def test_already_below_the_threshold_before_the_order_does_not_alert(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=4, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 1))["id"]  # 4 -> 3: the crossing was earlier

    inventory_apply(order_ids=[order_id])

    assert low_stock_calls == []
    assert low_stock_outbox() == []


def test_only_the_product_that_crossed_alerts(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=6, low_stock_threshold=5)
    mug = ProductFactory(on_hand=100, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 2), (mug, 2))["id"]

    inventory_apply(order_ids=[order_id])

    assert low_stock_calls == [(lamp.pk, order_id, 4)]


def test_a_failing_low_stock_receiver_does_not_undo_the_stock_change(customer, caplog):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 16))["id"]

    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    low_stock.connect(broken, dispatch_uid="tests.store.test_inventory.broken")
    try:
        with caplog.at_level(logging.ERROR, logger="store.services"):
            assert inventory_apply(order_ids=[order_id]) == [order_id]
    finally:
        low_stock.disconnect(dispatch_uid="tests.store.test_inventory.broken")

    assert stock(lamp) == (4, 0)
    assert inventory_status(order_id) == "done"
    assert low_stock_outbox() == [[lamp.pk, order_id]]  # the other receiver still ran
    assert any("receiver bug" in r.getMessage() for r in caplog.records)


def test_crossing_order_alerts_even_when_a_later_order_reserved_before_it_applied(
    customer, low_stock_calls
):
    lamp = ProductFactory(on_hand=6, low_stock_threshold=5)
    crossing = place_order(customer, (lamp, 2))["id"]  # 6 -> 4: this order crosses
    later = place_order(customer, (lamp, 3))["id"]  # 4 -> 1: already below, must not alert

    inventory_apply(order_ids=[crossing])
    inventory_apply(order_ids=[later])

    assert low_stock_calls == [(lamp.pk, crossing, 1)]


def test_one_crossing_gives_one_alert_when_orders_apply_out_of_order(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    first = place_order(customer, (lamp, 10))["id"]  # 20 -> 10: still above
    second = place_order(customer, (lamp, 6))["id"]  # 10 -> 4: this one crosses

    inventory_apply(order_ids=[first])
    inventory_apply(order_ids=[second])

    assert [order_id for _, order_id, _ in low_stock_calls] == [second]


# --- Abandoned carts -------------------------------------------------------------------


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


# --- Database constraints --------------------------------------------------------------


def violates(product, **values) -> bool:
    try:
        with transaction.atomic():
            Product.objects.filter(pk=product.pk).update(**values)
    except IntegrityError:
        return True
    return False


def test_on_hand_cannot_go_negative():
    product = ProductFactory(on_hand=3)
    assert violates(product, on_hand=-1)
    assert stock(product) == (3, 0)


def test_reserved_cannot_go_negative():
    product = ProductFactory(on_hand=3)
    assert violates(product, reserved=-1)
    assert stock(product) == (3, 0)


def test_reserved_cannot_exceed_on_hand():
    product = ProductFactory(on_hand=3)
    assert violates(product, reserved=4)
    assert not violates(product, reserved=3)
    assert stock(product) == (3, 3)


def test_on_hand_cannot_drop_below_reserved():
    product = ProductFactory(on_hand=5)
    Product.objects.filter(pk=product.pk).update(reserved=4)

    assert violates(product, on_hand=3)
    assert stock(product) == (5, 4)
