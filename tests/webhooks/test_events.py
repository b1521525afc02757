"""Each event staff may subscribe to makes one delivery per enabled endpoint subscribed to
its type, in the transaction of what happened, its data fixed then, with its job
(worker.jobs): a checkout, stock running low, a price change, a side effect failed for
good."""

import re
from decimal import Decimal

import pytest
from django.db import transaction

from store.services.stock import inventory_apply
from tests.factories import OrderFactory, ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from webhooks.models import JOB_KIND, Delivery, Endpoint
from webhooks.services.deliveries import any_enabled
from worker.jobs import job_fail, jobs_claim
from worker.models import Job

pytestmark = pytest.mark.django_db


def endpoint(*events, enabled=True) -> Endpoint:
    made = Endpoint.objects.create(
        url="https://hooks.example.net/x", events=list(events), enabled=enabled, secret="whsec_x"
    )
    any_enabled.expire()  # made as the API makes them: seen at the next event
    return made


def deliveries_of(hook: Endpoint) -> list[Delivery]:
    return list(Delivery.objects.filter(concurrency_key=str(hook.pk)).order_by("id"))


def test_a_checkout_delivers_the_order_as_the_api_shows_it_to_each_subscribed_endpoint():
    erp, fulfilment = endpoint("order.created"), endpoint("order.created", "product.low_stock")
    prices_only, disabled = (
        endpoint("product.price_changed"),
        endpoint("order.created", enabled=False),
    )
    user = UserFactory()
    cart = cart_with(user.customer, (ProductFactory(price="12.50"), 2), (ProductFactory(), 1))

    placed = client_for(user).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")

    assert placed.status_code == 201
    shown = client_for(user).get(f"/api/orders/{placed.json()['id']}/").json()
    shown.pop("side_effects")
    shown.update(sequence=1, customer={"id": user.customer.pk, "email": user.email})
    [for_erp], [for_fulfilment] = deliveries_of(erp), deliveries_of(fulfilment)
    assert deliveries_of(prices_only) == deliveries_of(disabled) == []
    for delivery in (for_erp, for_fulfilment):
        assert re.fullmatch(r"msg_[0-9a-f]{32}", delivery.key)
        assert delivery.event_type == "order.created"
        assert delivery.payload["data"] == shown
        assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert (for_erp.endpoint_id, for_fulfilment.endpoint_id) == (erp.pk, fulfilment.pk)
    assert for_erp.key != for_fulfilment.key


def test_stock_running_low_a_price_change_and_a_failed_side_effect_are_delivered():
    stock, prices, failures = (
        endpoint("product.low_stock"),
        endpoint("product.price_changed"),
        endpoint("order.side_effect_failed"),
    )
    user = UserFactory()
    mug = ProductFactory(sku="MUG-1", name="Mug", price="9.00", on_hand=6, low_stock_threshold=5)
    placed = client_for(user).post(
        "/api/orders/", {"cart_id": str(cart_with(user.customer, (mug, 2)).pk)}, format="json"
    )
    order_id = placed.json()["id"]
    inventory_apply(order_id=order_id)
    mug.refresh_from_db()
    mug.price = Decimal("11.00")
    mug.save()
    [analytics] = jobs_claim(kind="analytics", limit=1)  # its last attempt, failing
    assert job_fail(job=analytics, error="SMTP 554")

    [low] = deliveries_of(stock)
    assert low.payload["data"] == {
        "product": {
            "id": mug.pk,
            "sku": "MUG-1",
            "name": "Mug",
            "price": "9.00",
            "currency": "EUR",
            "available": 4,
        },
        "low_stock_threshold": 5,
        "order_id": order_id,
    }
    [price] = deliveries_of(prices)
    assert price.payload["data"]["product"]["price"] == "11.00"
    assert (price.payload["data"]["old_price"], price.payload["data"]["new_price"]) == (
        "9.00",
        "11.00",
    )
    [failed] = deliveries_of(failures)
    assert failed.payload["data"] == {
        "id": order_id,
        "order_id": order_id,
        "side_effect": "analytics",
        "error": "SMTP 554",
        "sequence": 1,  # the order's, still placed
        "customer": {"id": user.customer.pk, "email": user.email},
    }


def test_an_event_rolled_back_delivers_nothing():
    endpoint("product.price_changed")
    mug = ProductFactory(price="9.00")
    with pytest.raises(RuntimeError), transaction.atomic():
        mug.price = Decimal("1.00")
        mug.save()
        raise RuntimeError("the change is undone")
    assert not Delivery.objects.exists()
    assert not Job.objects.filter(kind=JOB_KIND).exists()


def test_an_event_costs_one_read_with_endpoints_and_none_without_for_a_while(
    django_assert_num_queries, monotonic_clock
):
    """A shop without an enabled endpoint pays no statement an event: whether there is
    one is read again after any_enabled.seconds (or at once when this process made one)."""
    from webhooks import receivers

    order = OrderFactory()
    any_enabled.expire()
    with transaction.atomic(), django_assert_num_queries(3):  # a savepoint, its read, release
        receivers.deliver_order_created(sender=None, order=order)  # none: for a while
    disabled = Endpoint.objects.create(
        url="https://x/", events=["product.low_stock"], enabled=False
    )
    Endpoint.objects.filter(pk=disabled.pk).update(enabled=True)  # by another process, say
    with transaction.atomic(), django_assert_num_queries(0):
        receivers.deliver_order_created(sender=None, order=order)
    monotonic_clock.advance(any_enabled.seconds + 1)
    with transaction.atomic(), django_assert_num_queries(6):  # the check, then the read
        receivers.deliver_order_created(sender=None, order=order)
    endpoint("product.low_stock")
    with transaction.atomic(), django_assert_num_queries(6):
        receivers.deliver_order_created(sender=None, order=order)
    assert not Delivery.objects.exists()  # none subscribed to order.created
