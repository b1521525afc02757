"""Low-stock alerts: applying an order sends `low_stock` for a product whose available
stock it took below the threshold, on the crossing only (not landing on the threshold, not
already below, not on a replay), whatever order the orders apply in; the receiver enqueues
the staff's email as a job, and a failing receiver undoes no stock change."""

import logging

import pytest

from store.services.stock import inventory_apply
from store.signals import low_stock
from tests.factories import ProductFactory
from tests.support.jobs import jobs_run
from tests.support.orders import inventory_status, place_order, stock
from worker.models import Job

pytestmark = pytest.mark.django_db

LOW_STOCK_KIND = "low_stock_alert"


@pytest.fixture
def low_stock_calls():
    """Every low_stock send, as (product_id, order_id, available)."""
    calls = []

    def record(sender, product, order_id, available, **kwargs):
        calls.append((product.pk, order_id, available))

    low_stock.connect(record, dispatch_uid="tests.store.test_low_stock.record")
    yield calls
    low_stock.disconnect(dispatch_uid="tests.store.test_low_stock.record")


def low_stock_jobs() -> list[str]:
    """The keys of the alert emails' jobs ("<product id>:<order id>"), oldest first."""
    return list(
        Job.objects.filter(kind=LOW_STOCK_KIND).order_by("id").values_list("key", flat=True)
    )


def test_crossing_the_threshold_sends_low_stock_once(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 16))["id"]  # available 20 -> 4

    inventory_apply(order_id=order_id)
    inventory_apply(order_id=order_id)  # a replay alerts nothing more

    assert low_stock_calls == [(lamp.pk, order_id, 4)]


def test_low_stock_receiver_enqueues_the_alert_email_as_a_job(customer):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 16))["id"]
    assert low_stock_jobs() == []

    inventory_apply(order_id=order_id)

    assert low_stock_jobs() == [f"{lamp.pk}:{order_id}"]
    job = Job.objects.get(kind=LOW_STOCK_KIND)
    assert (job.status, job.attempts) == ("pending", 0)  # a worker claims it once committed


def test_starting_exactly_at_the_threshold_and_going_below_alerts(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=5, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 1))["id"]  # 5 -> 4

    inventory_apply(order_id=order_id)

    assert low_stock_calls == [(lamp.pk, order_id, 4)]


def test_landing_exactly_on_the_threshold_does_not_alert(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 15))["id"]  # 20 -> 5: not below yet

    inventory_apply(order_id=order_id)

    assert low_stock_calls == []
    assert low_stock_jobs() == []


def test_still_above_the_threshold_does_not_alert(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 10))["id"]

    inventory_apply(order_id=order_id)

    assert low_stock_calls == []
    assert low_stock_jobs() == []


def test_already_below_the_threshold_before_the_order_does_not_alert(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=4, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 1))["id"]  # 4 -> 3: the crossing was earlier

    inventory_apply(order_id=order_id)

    assert low_stock_calls == []
    assert low_stock_jobs() == []


def test_only_the_product_that_crossed_alerts(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=6, low_stock_threshold=5)
    mug = ProductFactory(on_hand=100, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 2), (mug, 2))["id"]

    inventory_apply(order_id=order_id)

    assert low_stock_calls == [(lamp.pk, order_id, 4)]


def test_a_failing_low_stock_receiver_does_not_undo_the_stock_change(customer, caplog):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    order_id = place_order(customer, (lamp, 16))["id"]

    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    low_stock.connect(broken, dispatch_uid="tests.store.test_low_stock.broken")
    try:
        with caplog.at_level(logging.ERROR, logger="store.services"):
            assert jobs_run("inventory") == [str(order_id)]
    finally:
        low_stock.disconnect(dispatch_uid="tests.store.test_low_stock.broken")

    assert stock(lamp) == (4, 0)
    assert inventory_status(order_id) == "done"
    assert low_stock_jobs() == [f"{lamp.pk}:{order_id}"]  # the other receiver still ran
    assert any("receiver bug" in r.getMessage() for r in caplog.records)


def test_crossing_order_alerts_even_when_a_later_order_reserved_before_it_applied(
    customer, low_stock_calls
):
    lamp = ProductFactory(on_hand=6, low_stock_threshold=5)
    crossing = place_order(customer, (lamp, 2))["id"]  # 6 -> 4: this order crosses
    later = place_order(customer, (lamp, 3))["id"]  # 4 -> 1: already below, must not alert

    inventory_apply(order_id=crossing)
    inventory_apply(order_id=later)

    assert low_stock_calls == [(lamp.pk, crossing, 1)]


def test_one_crossing_gives_one_alert_when_orders_apply_out_of_order(customer, low_stock_calls):
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5)
    first = place_order(customer, (lamp, 10))["id"]  # 20 -> 10: still above
    second = place_order(customer, (lamp, 6))["id"]  # 10 -> 4: this one crosses

    inventory_apply(order_id=first)
    inventory_apply(order_id=second)

    assert [order_id for _, order_id, _ in low_stock_calls] == [second]
