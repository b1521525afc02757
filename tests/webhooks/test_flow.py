"""Checkouts to a receiver through the real outbox relay, broker and Celery worker (the
in-process one): a receiver down, then erring, then back gets every event once, under one
webhook-id on every attempt; a redeliver sends it again under that id. A delivery whose
message Redis lost is re-driven once its due time is past by the window, and one whose
message still waits in the queue's backlog is left to it."""

import pytest

from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.polling import wait_until
from tests.support.webhooks import WebhookReceiver, due_now, hook, message_lost, time_passes
from webhooks.models import Delivery
from webhooks.services import sending
from webhooks.services.deliveries import endpoint_test_send
from webhooks.tasks import redrive_deliveries
from worker.models import OutboxMessage
from worker.queues import queue_states

pytestmark = pytest.mark.slow


def tries_reach(delivery_ids, tries: int) -> None:
    def reached():
        rows = Delivery.objects.filter(pk__in=delivery_ids, tries__gte=tries)
        return rows.count() == len(delivery_ids)

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
    ids = list(Delivery.objects.values_list("pk", flat=True))
    assert len(ids) == 3

    tries_reach(ids, 1)  # refused
    for delivery_id in ids:  # hours pass
        due_now(delivery_id)
    tries_reach(ids, 2)  # refused again
    with receiver:
        for delivery_id in ids:
            due_now(delivery_id)
        tries_reach(ids, 3)  # up, but answering 503
        receiver.behave(status=204)
        for delivery_id in ids:
            due_now(delivery_id)
        wait_until(
            lambda: Delivery.objects.filter(status="delivered").count() == 3,
            timeout=30,
            message="every delivery delivered",
        )

        each_order_once(receiver, ids=ids, orders=orders, secret=made["secret"])

        # Staff send one again: the same id, now.
        again = staff.post(f"/api/webhooks/deliveries/{ids[0]}/redeliver/")
        assert again.status_code == 202
        wait_until(lambda: len(receiver.at("/hook")) == 7, timeout=30, message="the redelivery")
        assert receiver.at("/hook")[-1].id == ids[0]
        wait_until(lambda: Delivery.objects.get(pk=ids[0]).status == "delivered", timeout=10)


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
        assert [a.status_code for a in delivery.attempts.all()] == [None, None, 503, 204]


def worker_held(receiver) -> None:
    """The in-process worker (a task at a time) held in a request to /hanging, until the
    receiver is released: what is published meanwhile waits in the webhooks queue."""
    hanging = hook(receiver, "/hanging")
    receiver.behave("/hanging", hold=True)
    endpoint_test_send(endpoint_id=hanging.pk)
    wait_until(lambda: receiver.at("/hanging"), timeout=15, message="the worker held")


def test_a_delivery_whose_message_redis_lost_is_redriven_once_past_due_under_its_id(
    in_process_worker, receiver
):
    broker = in_process_worker.app.conf.broker_url
    worker_held(receiver)
    endpoint = hook(receiver)
    lost = endpoint_test_send(endpoint_id=endpoint.pk).pk
    wait_until(lambda: message_lost(broker, lost), timeout=10, message="its message deleted")
    receiver.released.set()
    wait_until(lambda: Delivery.objects.filter(status="delivered").exists(), timeout=30)

    assert redrive_deliveries.apply().get() == 0  # due moments ago: it may be on its way
    time_passes(sending.REDRIVE_AFTER_SECONDS + 1, lost)
    assert redrive_deliveries.apply().get() == 1
    wait_until(
        lambda: Delivery.objects.get(pk=lost).status == "delivered",
        timeout=30,
        message="the re-driven delivery delivered",
    )
    assert redrive_deliveries.apply().get() == 0  # delivered: not sent again
    [request] = receiver.at("/hook")
    assert request.id == lost and request.verified_by == [endpoint.secret]


def test_a_delivery_whose_message_waits_in_a_backlog_is_left_to_it(
    in_process_worker, receiver, settings, monkeypatch
):
    """The windows shortened (1 s past due, a relay's lease of 1 s) so that a backlog ages
    past them in seconds: past its window, a delivery whose message is still queued behind
    the held worker was published after the oldest message ready there (its own): left to
    it. The one lost long before it (its due time moved back) is re-driven."""
    monkeypatch.setattr(sending, "REDRIVE_AFTER_SECONDS", 1)
    settings.SHOPFLOW_OUTBOX_LEASE_SECONDS = 1
    broker = in_process_worker.app.conf.broker_url
    worker_held(receiver)
    endpoint = hook(receiver)
    lost = endpoint_test_send(endpoint_id=endpoint.pk).pk
    wait_until(lambda: message_lost(broker, lost), timeout=10, message="its message deleted")
    time_passes(30, lost)
    queued = endpoint_test_send(endpoint_id=endpoint.pk)
    wait_until(
        lambda: (queue_states(names=["webhooks"])["webhooks"].oldest_ready_age_seconds or 0) > 2,
        timeout=10,
        message="its message two seconds in the queue",
    )

    assert Delivery.objects.get(pk=queued.pk).status == "pending"
    assert redrive_deliveries.apply().get() == 1  # the lost one alone
    receiver.released.set()
    wait_until(
        lambda: Delivery.objects.filter(status="delivered").count() == 3,
        timeout=30,
        message="every delivery delivered",
    )
    assert sorted(request.id for request in receiver.at("/hook")) == sorted([lost, queued.pk])
    assert OutboxMessage.objects.filter(args=[queued.pk]).count() == 1  # never re-driven
