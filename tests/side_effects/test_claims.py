"""A side-effect task's done mark in the work's transaction (side_effect_mark_done_with_work)
and an email's after SMTP (side_effect_mark_done): which rows they take, and that the
first never waits for another delivery."""

import threading

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError

from side_effects import services
from side_effects.models import OrderSideEffect
from store.models import Order
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders() -> list[int]:
    """Three orders whose inventory side effect is pending, done and failed."""
    customer = UserFactory().customer
    ids = []
    for status in ("pending", "done", "failed"):
        order = Order.objects.create(customer=customer, total=1)
        OrderSideEffect.objects.create(order=order, kind="inventory", status=status)
        ids.append(order.pk)
    return ids


def status(order_id) -> str:
    return OrderSideEffect.objects.get(order_id=order_id, kind="inventory").status


def test_a_claim_takes_pending_and_failed_and_leaves_done_and_unknown_orders_out(orders):
    with transaction.atomic():
        claimed = [
            services.side_effect_mark_done_with_work(kind="inventory", order_id=order_id)
            for order_id in [*orders, 999_999]
        ]

    assert claimed == [True, False, True, False]  # failed: a late delivery still does it
    assert [status(order_id) for order_id in orders] == ["done", "done", "done"]


def test_a_claim_rolls_back_with_its_work(orders):
    with pytest.raises(RuntimeError), transaction.atomic():
        assert services.side_effect_mark_done_with_work(kind="inventory", order_id=orders[0])
        raise RuntimeError("the work failed")

    assert status(orders[0]) == "pending"


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction
def test_a_claim_outside_the_works_transaction_is_refused():
    with pytest.raises(TransactionManagementError):
        services.side_effect_mark_done_with_work(kind="inventory", order_id=1)


def test_a_mark_after_smtp_leaves_one_done_already_as_it_was(orders):
    done = OrderSideEffect.objects.get(order_id=orders[1], kind="inventory")

    services.side_effect_mark_done(order_id=orders[1], kind="inventory")
    services.side_effect_mark_done(order_id=orders[0], kind="inventory")

    assert OrderSideEffect.objects.get(pk=done.pk).updated_at == done.updated_at
    assert status(orders[0]) == "done"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_a_row_another_delivery_holds(orders):
    """Two deliveries of one order never wait for each other: the second leaves it."""
    held, release = threading.Event(), threading.Event()

    def another_delivery():
        try:
            with transaction.atomic():
                list(OrderSideEffect.objects.select_for_update().filter(order_id=orders[0]))
                held.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    thread = threading.Thread(target=another_delivery)
    thread.start()
    try:
        assert held.wait(timeout=10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")  # waiting would fail
            claimed = services.side_effect_mark_done_with_work(kind="inventory", order_id=orders[0])
    finally:
        release.set()
        thread.join()
    assert claimed is False
    assert status(orders[0]) == "pending"
