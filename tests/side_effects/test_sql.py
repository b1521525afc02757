"""The claim of a side-effect task's batch and the mark of an email's side effects are one
UPDATE ... RETURNING (side_effects.sql): it marks and returns what the ORM's equivalent (a
read, then an UPDATE) would, on SQLite and on PostgreSQL (`make test` runs these on
SQLite too when DATABASE_URL names another database)."""

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from side_effects import services, sql
from side_effects.models import OrderSideEffect
from store.models import Order
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.orm_equivalence]

Status = OrderSideEffect.Status
# Each order's inventory and analytics side effects, by order.
STATES = [
    ("pending", "pending"),
    ("done", "pending"),
    ("pending", "done"),
    ("failed", "pending"),
    ("pending", "failed"),
    ("pending", "pending"),
]


@pytest.fixture
def orders() -> list[int]:
    customer = UserFactory().customer
    ids = []
    for inventory, analytics in STATES:
        order = Order.objects.create(customer=customer, total=1)
        OrderSideEffect.objects.bulk_create(
            [
                OrderSideEffect(order=order, kind="inventory", status=inventory),
                OrderSideEffect(order=order, kind="analytics", status=analytics),
            ]
        )
        ids.append(order.pk)
    return ids


def after(claim, **arguments) -> tuple[list[int], list[tuple]]:
    """What `claim` returns and leaves, rolled back afterwards."""
    with transaction.atomic():
        claimed = claim(**arguments)
        ordered = OrderSideEffect.objects.order_by("order_id", "kind")
        rows = list(ordered.values_list("order_id", "kind", "status", "error"))
        transaction.set_rollback(True)
    return claimed, rows


def mark_done_with_the_orm(*, kind: str, order_ids: list[int], skip_locked: bool) -> list:
    rows = OrderSideEffect.objects.filter(kind=kind, order_id__in=order_ids).exclude(
        status=Status.DONE
    )
    marked = sorted(rows.values_list("order_id", "created_at"))
    OrderSideEffect.objects.filter(pk__in=list(rows.values_list("pk", flat=True))).update(
        status=Status.DONE, error=""
    )
    return marked


@pytest.mark.parametrize("skip_locked", [True, False])
@pytest.mark.parametrize("positions", [[], [0], [1], [3], [0, 1, 3, 4], [2, 5, 999]])
@pytest.mark.parametrize("kind", ["inventory", "analytics"])
def test_the_mark_done_marks_and_returns_what_the_orm_would(orders, positions, kind, skip_locked):
    order_ids = [orders[p] if p < len(orders) else p for p in positions]
    arguments = {"kind": kind, "order_ids": order_ids, "skip_locked": skip_locked}

    expected = after(mark_done_with_the_orm, **arguments)

    assert after(sql.side_effects_mark_done, **arguments) == expected


def test_a_claim_takes_pending_and_failed_leaves_done_and_unknown_orders_out(orders):
    with transaction.atomic():
        claimed = services.side_effects_claim(
            kind="inventory", order_ids=[orders[1], orders[3], orders[5], 999_999]
        )
    assert claimed == [orders[3], orders[5]]  # failed: a late delivery still does it
    done = OrderSideEffect.objects.filter(kind="inventory", status="done")
    assert sorted(done.values_list("order_id", flat=True)) == [orders[1], orders[3], orders[5]]


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction
def test_a_claim_outside_the_works_transaction_is_refused():
    with pytest.raises(TransactionManagementError):
        services.side_effects_claim(kind="inventory", order_ids=[1])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_rows_another_delivery_holds_its_own_too(orders):
    """Two deliveries whose batches cross never wait for each other (nor deadlock)."""
    import threading

    from django.db import connection

    held, release = threading.Event(), threading.Event()

    def another_delivery():
        try:
            with transaction.atomic():
                list(
                    OrderSideEffect.objects.select_for_update().filter(
                        kind="inventory", order_id__in=[orders[0], orders[5]]
                    )
                )
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
            claimed = services.side_effects_claim(
                kind="inventory", order_ids=[orders[0], orders[4], orders[5]]
            )
    finally:
        release.set()
        thread.join()
    assert claimed == [orders[4]]  # not orders[0] nor orders[5]: held by the other
