"""Applying an order's stock: once, with a ledger, by its inventory job, several orders' in
one run; and the database constraints that keep stock from going negative."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from store.models import Product, StockMovement
from store.services.stock import inventory_apply
from store.tasks import apply_inventory
from tests.factories import ProductFactory
from tests.support.jobs import jobs_run
from tests.support.orders import inventory_status, place_order, stock
from worker.jobs import enqueue_on_commit

pytestmark = pytest.mark.django_db


# --- Applying an order -----------------------------------------------------------------


def test_apply_moves_reserved_units_out_of_on_hand(customer):
    mug = ProductFactory(on_hand=10)
    tee = ProductFactory(on_hand=7)
    order_id = place_order(customer, (mug, 3), (tee, 2))["id"]
    assert stock(mug) == (10, 3)

    assert inventory_apply(order_id=order_id) is True

    assert stock(mug) == (7, 0)
    assert stock(tee) == (5, 0)


def test_apply_writes_one_stock_movement_per_order_item(customer):
    mug = ProductFactory(on_hand=10)
    tee = ProductFactory(on_hand=7)
    order_id = place_order(customer, (mug, 3), (tee, 2))["id"]

    inventory_apply(order_id=order_id)

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
    inventory_apply(order_id=order_id)  # the units leave stock on hand
    stamps.append(Product.objects.get(pk=mug.pk).updated_at)

    assert stamps[0] < stamps[1] < stamps[2]
    assert stamps[1] > timezone.now() - timedelta(minutes=1)


def test_second_apply_returns_false_and_changes_nothing(customer):
    mug = ProductFactory(on_hand=10)
    order_id = place_order(customer, (mug, 4))["id"]
    assert inventory_apply(order_id=order_id) is True

    assert inventory_apply(order_id=order_id) is False

    assert stock(mug) == (6, 0)
    assert list(StockMovement.objects.filter(product=mug).values_list("delta", flat=True)) == [-4]


def test_the_inventory_job_applies_the_order_and_is_done(client, customer, product):
    order_id = place_order(customer, (product, 1))["id"]
    assert inventory_status(order_id) == "pending"

    assert jobs_run("inventory") == [str(order_id)]

    assert stock(product) == (19, 0)
    assert inventory_status(order_id) == "done"
    body = client.get(f"/api/orders/{order_id}/").json()
    assert body["side_effects"]["inventory"] == "done"


def test_apply_leaves_other_orders_reservations_alone(customer):
    mug = ProductFactory(on_hand=10)
    first = place_order(customer, (mug, 2))["id"]
    second = place_order(customer, (mug, 3))["id"]

    inventory_apply(order_id=first)

    assert stock(mug) == (8, 3)
    assert inventory_status(second) == "pending"


def test_one_run_applies_each_due_order_once_in_its_own_transaction(customer):
    mug, tee = ProductFactory(on_hand=10), ProductFactory(on_hand=10)
    first = place_order(customer, (mug, 2))["id"]
    second = place_order(customer, (mug, 3), (tee, 1))["id"]
    third = place_order(customer, (tee, 4))["id"]

    assert jobs_run("inventory") == [str(first), str(second), str(third)]

    assert stock(mug) == (5, 0) and stock(tee) == (5, 0)
    assert {inventory_status(o) for o in (first, second, third)} == {"done"}
    assert StockMovement.objects.count() == 4
    # Nothing is due any more, and the function run again finds the work done.
    assert jobs_run("inventory") == []
    assert apply_inventory(str(second)) is False
    assert stock(mug) == (5, 0) and StockMovement.objects.count() == 4


def test_apply_of_unknown_orders_applies_nothing_and_the_known_ones_all_the_same(customer):
    mug = ProductFactory(on_hand=10)
    enqueue_on_commit(apply_inventory, 999_999)  # an order that is not there
    order_id = place_order(customer, (mug, 1))["id"]

    assert inventory_apply(order_id=999_999) is False
    assert jobs_run("inventory") == ["999999", str(order_id)]  # nothing to do is done too
    assert stock(mug) == (9, 0)
    assert StockMovement.objects.count() == 1


def test_task_called_directly_applies_once_and_records_no_job(customer):
    mug = ProductFactory(on_hand=10)
    order_id = place_order(customer, (mug, 4))["id"]

    assert apply_inventory(str(order_id)) is True
    assert apply_inventory(str(order_id)) is False

    assert stock(mug) == (6, 0)
    assert inventory_status(order_id) == "pending"  # the bare function: no job's end
    # Its job, run then, finds the units moved already.
    assert jobs_run("inventory") == [str(order_id)]
    assert stock(mug) == (6, 0) and StockMovement.objects.count() == 1
    assert inventory_status(order_id) == "done"


def test_task_for_unknown_order_does_nothing():
    assert apply_inventory("999999") is False
    assert not StockMovement.objects.exists()


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


@pytest.mark.postgres
def test_the_inventory_reads_its_orders_ledger_rows_by_index_not_the_whole_ledger(customer):
    """A shop's ledger grows by a row an order item: the inventory's read of an order's
    unapplied items must not scan it (a LEFT JOIN did, once an order, ever slower)."""
    from django.db import connection

    from store.models import Order, OrderItem
    from store.selectors import order_items_unapplied

    product, rows = ProductFactory(on_hand=10**6), 5000
    orders = Order.objects.bulk_create(Order(customer=customer, total=1) for _ in range(rows))
    items = OrderItem.objects.bulk_create(
        OrderItem(order=order, product=product, unit_price=1, quantity=1) for order in orders
    )
    StockMovement.objects.bulk_create(
        StockMovement(product=product, order_item=item, delta=-1) for item in items
    )
    # Not analysed since: statistics lag a busy ledger (autovacuum's), and a LEFT JOIN was
    # then planned as a hash join over the whole ledger.
    with CaptureQueriesContext(connection) as read:
        assert order_items_unapplied(order_id=orders[-1].pk) == []
    # As the worker runs it: prepared (psycopg, after 5 runs), planned for any order.
    sql = read.captured_queries[-1]["sql"].replace(f"= {orders[-1].pk}", "= $1")
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE unapplied(bigint) AS {sql}")
        cursor.execute(f"EXPLAIN EXECUTE unapplied({orders[-1].pk})")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE unapplied; RESET plan_cache_mode")
    assert "Seq Scan on store_stockmovement" not in plan, plan
