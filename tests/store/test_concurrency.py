"""Real concurrency on PostgreSQL: threads, each with its own database connection, all
released at once by a barrier."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.utils import timezone

from store.models import Cart, Order, Product
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.polling import wait_for_a_lock_wait
from worker.models import OutboxMessage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(calls):
    """Run the callables in as many threads, started together; return their results."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=30)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def closing(call):
    """`call` for another thread: the connection it opens there is closed after it (an
    open one would outlive the test, and hold up the test database's removal)."""

    def closed_after():
        try:
            return call()
        finally:
            connection.close()

    return closed_after


def checkout_call(client, cart):
    return lambda: client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")


def test_thirty_checkouts_for_ten_units_sell_exactly_ten():
    product = ProductFactory(on_hand=10)
    calls = []
    for _ in range(30):
        user = UserFactory()
        calls.append(checkout_call(client_for(user), cart_with(user.customer, (product, 1))))

    responses = run_at_once(calls)

    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 10, codes
    assert codes.count(409) == 20, codes
    assert Order.objects.count() == 10
    product.refresh_from_db()
    assert (product.on_hand, product.reserved, product.available) == (10, 10, 0)


def test_overlapping_carts_in_opposite_order_do_not_deadlock():
    first, second = ProductFactory(on_hand=100), ProductFactory(on_hand=100)
    calls = []
    for index in range(12):
        user = UserFactory()
        lines = [(first, 1), (second, 1)] if index % 2 else [(second, 1), (first, 1)]
        calls.append(checkout_call(client_for(user), cart_with(user.customer, *lines)))

    responses = run_at_once(calls)

    assert [r.status_code for r in responses] == [201] * 12
    assert Product.objects.get(pk=first.pk).reserved == 12
    assert Product.objects.get(pk=second.pk).reserved == 12


def test_double_submitted_cart_yields_one_order():
    user = UserFactory()
    product = ProductFactory(on_hand=10)
    cart = cart_with(user.customer, (product, 3))
    clients = [client_for(user) for _ in range(5)]

    responses = run_at_once([checkout_call(c, cart) for c in clients])

    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 404, 404, 404, 404]
    assert Order.objects.count() == 1
    product.refresh_from_db()
    assert product.reserved == 3


def test_a_line_removed_during_a_checkout_is_refused_rather_than_ordered():
    """The checkout waits for the cart's lock (held here); a removal sent meanwhile
    queues behind it, then finds the cart checked out: 404, and the order has the line.
    Without the lock the removal answered 204 for a line the checkout went on to order."""
    user = UserFactory()
    mug, tea = ProductFactory(on_hand=10), ProductFactory(on_hand=10)
    cart = cart_with(user.customer, (mug, 1), (tea, 1))
    tea_line = cart.items.get(product=tea)
    held, release = threading.Event(), threading.Event()

    def hold_the_cart():
        try:
            with transaction.atomic():
                Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now())  # its lock
                held.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def remove_the_line():
        path = f"/api/carts/{cart.pk}/items/{tea_line.pk}/"
        return client_for(user).delete(path)

    with ThreadPoolExecutor(max_workers=3) as pool:
        holder = pool.submit(hold_the_cart)
        held.wait(timeout=10)
        checkout = pool.submit(closing(checkout_call(client_for(user), cart)))
        wait_for_a_lock_wait()
        removal = pool.submit(closing(remove_the_line))
        wait_for_a_lock_wait(waiting=2)  # the removal queues behind the checkout
        release.set()
        holder.result(timeout=30)
        ordered, removed = checkout.result(timeout=30), removal.result(timeout=30)

    assert ordered.status_code == 201
    assert removed.status_code == 404
    assert removed.json()["detail"] == "Cart not found."
    ordered_products = {line["product_id"] for line in ordered.json()["items"]}
    assert ordered_products == {mug.pk, tea.pk}


def test_double_submit_with_one_idempotency_key_answers_the_same_order_to_all():
    user = UserFactory()
    product = ProductFactory(on_hand=10)
    cart = cart_with(user.customer, (product, 1))
    clients = [client_for(user) for _ in range(5)]

    def call(client):
        return lambda: client.post(
            "/api/orders/",
            {"cart_id": str(cart.pk)},
            format="json",
            headers={"Idempotency-Key": "k"},
        )

    responses = run_at_once([call(c) for c in clients])

    assert [r.status_code for r in responses] == [201] * 5
    assert len({r.json()["id"] for r in responses}) == 1
    assert Order.objects.count() == 1


def test_concurrent_inventory_deliveries_in_overlapping_batches_apply_each_order_once():
    from side_effects.models import OrderSideEffect
    from store.models import StockMovement
    from store.tasks import apply_inventory

    products = [ProductFactory(on_hand=1000) for _ in range(3)]
    user = UserFactory()
    client = client_for(user)
    order_ids = []
    for index in range(24):
        lines = [(products[index % 3], 2), (products[(index + 1) % 3], 1)]
        response = checkout_call(client, cart_with(user.customer, *lines))()
        order_ids.append(response.json()["id"])

    # Every order delivered twice, in batches of four that cross (the second time shifted
    # by two), twelve deliveries at a time, with checkouts between.
    batches = [order_ids[i : i + 4] for i in range(0, 24, 4)]
    batches += [order_ids[i : i + 4] for i in range(2, 24, 4)] + [order_ids[:2]]
    calls = [lambda ids=ids: apply_inventory(ids) for ids in batches]
    buyer = UserFactory()
    extra = [checkout_call(client_for(buyer), cart_with(buyer.customer, (products[0], 1)))]
    results = []
    for start in range(0, len(calls), 12):
        results += run_at_once(calls[start : start + 12] + (extra if start == 0 else []))

    applied = [order_id for result in results if isinstance(result, list) for order_id in result]
    # A delivery that found an order counted by another sent it out alone, a retry in the
    # outbox (the relay would publish it): the claim of that other may have met the row
    # held by that very postponement, and left the order to the retry.
    retries = OutboxMessage.objects.filter(task_name=apply_inventory.name, not_before__isnull=False)
    for retry in retries:
        applied += apply_inventory(*retry.args)
    assert sorted(applied) == sorted(order_ids)  # each by exactly one delivery
    done = OrderSideEffect.objects.filter(order_id__in=order_ids, kind="inventory")
    assert set(done.values_list("status", flat=True)) == {"done"}
    assert StockMovement.objects.filter(order_item__order_id__in=order_ids).count() == 48
    for product in products:
        product.refresh_from_db()
    # Each product: in 8 orders as the 2-unit line and 8 as the 1-unit line = 24 units; the
    # extra checkout's unit is reserved, not applied (no delivery carried it).
    assert [(p.on_hand, p.reserved) for p in products] == [(976, 1), (976, 0), (976, 0)]
