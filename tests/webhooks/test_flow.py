"""Checkouts to a receiver through the real dispatcher, broker and Celery worker (the
in-process one): a receiver down, then erring, then back gets every event once, under one
webhook-id on every attempt; a redeliver sends it again under that id."""

import pytest

from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.polling import wait_until
from tests.support.webhooks import WebhookReceiver, due_now, status_of
from webhooks.models import Attempt, Delivery

pytestmark = pytest.mark.slow


def tries_reach(delivery_ids, tries: int) -> None:
    def reached():
        made = [Attempt.objects.filter(delivery__key=pk).count() for pk in delivery_ids]
        return min(made) >= tries

    wait_until(reached, timeout=30, message=f"every delivery's attempt {tries}")


def test_every_order_reaches_a_receiver_down_then_back_once_under_one_id(
    in_process_worker, settings
):
    settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK = True
    staff = client_for(UserFactory(is_staff=True))
    receiver = WebhookReceiver()  # down: nothing listens on its port yet
    made = staff.post(
        "/api/webhooks/endpoints/",
        {"url": receiver.url(), "events": ["order.created"]},
        format="json",
    ).json()
    receiver.behave(secrets=[made["secret"]], status=503)
    orders = orders_placed(3)
    ids = list(Delivery.objects.values_list("key", flat=True))
    assert len(ids) == 3

    tries_reach(ids, 1)  # refused
    due_now(*ids)  # hours pass
    tries_reach(ids, 2)  # refused again
    with receiver:
        due_now(*ids)
        tries_reach(ids, 3)  # up, but answering 503
        receiver.behave(status=204)
        due_now(*ids)
        wait_until(
            lambda: [status_of(pk) for pk in ids] == ["delivered"] * 3,
            timeout=30,
            message="every delivery delivered",
        )

        each_order_once(receiver, ids=ids, orders=orders, secret=made["secret"])

        # Staff send one again: the same id, now.
        again = staff.post(f"/api/webhooks/deliveries/{ids[0]}/redeliver/")
        assert again.status_code == 202
        wait_until(lambda: len(receiver.at("/hook")) == 7, timeout=30, message="the redelivery")
        assert receiver.at("/hook")[-1].id == ids[0]
        wait_until(lambda: status_of(ids[0]) == "delivered", timeout=10)


def orders_placed(count: int) -> list[int]:
    shopper = UserFactory()
    orders = []
    for _ in range(count):
        cart = cart_with(shopper.customer, (ProductFactory(), 1))
        placed = client_for(shopper).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
        orders.append(placed.json()["id"])
    return orders


def each_order_once(receiver, *, ids, orders, secret) -> None:
    """Each order's event reached the receiver under one id: refused twice (no request),
    answered 503 once, then 204; every request verified."""
    requests = receiver.at("/hook")
    assert len(requests) == 6  # two a delivery: the 503 and the 204
    assert all(request.verified_by == [secret] for request in requests)
    by_id = {delivery_id: [r for r in requests if r.id == delivery_id] for delivery_id in ids}
    assert all(len(seen) == 2 for seen in by_id.values())
    assert sorted(seen[0].event["data"]["id"] for seen in by_id.values()) == sorted(orders)
    assert all(seen[0].body == seen[1].body for seen in by_id.values())  # the same event
    for delivery in Delivery.objects.all():
        assert [a.status_code for a in delivery.attempt_records.all()] == [None, None, 503, 204]
