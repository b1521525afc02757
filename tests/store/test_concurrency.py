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
from tests.support.jobs import jobs_run, order_jobs
from tests.support.polling import wait_for_a_lock_wait

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


def test_concurrent_inventory_runs_apply_each_order_once(settings):
    from store.models import StockMovement
    from store.tasks import apply_inventory

    settings.SHOPFLOW_SIDE_EFFECT_BATCH_SIZE = 4
    products = [ProductFactory(on_hand=1000) for _ in range(3)]
    user = UserFactory()
    client = client_for(user)
    order_ids = []
    for index in range(24):
        lines = [(products[index % 3], 2), (products[(index + 1) % 3], 1)]
        response = checkout_call(client, cart_with(user.customer, *lines))()
        order_ids.append(response.json()["id"])

    # Twelve runs of four at once, each claiming what the others do not hold, with a
    # checkout of one of the products among them.
    runs = [lambda: apply_inventory.apply().get() for _ in range(12)]
    buyer = UserFactory()
    extra = checkout_call(client_for(buyer), cart_with(buyer.customer, (products[0], 1)))
    *results, response = run_at_once([*runs, extra])
    assert response.status_code == 201
    order_ids.append(response.json()["id"])
    # What no run claimed (the extra order's job, committed after the claims), run now:
    # seven runs of four take all 25 whatever the runs above left.
    results.append(jobs_run("inventory", runs=7))

    applied = [int(key) for result in results for key in result]
    assert sorted(applied) == sorted(order_ids)  # each by exactly one run
    jobs = order_jobs().filter(kind="inventory", key__in=[str(o) for o in order_ids])
    assert set(jobs.values_list("status", "attempts")) == {("done", 1)}
    assert StockMovement.objects.filter(order_item__order_id__in=order_ids).count() == 49
    for product in products:
        product.refresh_from_db()
    # Each product: in 8 orders as the 2-unit line and 8 as the 1-unit line = 24 units; the
    # first one the extra checkout's unit besides.
    assert [(p.on_hand, p.reserved) for p in products] == [(975, 0), (976, 0), (976, 0)]


def test_two_tabs_adding_to_no_cart_at_once_fill_one_cart():
    """The first tab's choice of the current cart is held uncommitted (it made one); the
    second tab's add, sent meanwhile, waits for the customer's lock, then fills that cart.
    Without the lock the second made a cart of its own, and the first's line was left in a
    cart the pages no longer show."""
    from django.test import Client

    from store.services.carts import cart_current_ensure

    user, tea = UserFactory(), ProductFactory(on_hand=10)
    held, release = threading.Event(), threading.Event()

    def first_tab():
        try:
            with transaction.atomic():
                cart = cart_current_ensure(customer=user.customer)
                held.set()
                release.wait(timeout=30)
            return cart.pk
        finally:
            connection.close()

    def second_tab():
        browser = Client()
        browser.force_login(user)
        return browser.post("/shop/cart/add/", {"product_id": tea.pk, "quantity": 1})

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(first_tab)
        assert held.wait(timeout=10)
        second = pool.submit(closing(second_tab))
        wait_for_a_lock_wait()
        release.set()
        cart_id, added = first.result(timeout=30), second.result(timeout=30)

    assert added.status_code == 302
    assert list(Cart.objects.filter(customer=user.customer).values_list("pk", flat=True)) == [
        cart_id
    ]
    assert list(Cart.objects.get().items.values_list("product_id", flat=True)) == [tea.pk]
