"""Messages that carry many orders, through a real Celery worker (in this process,
consuming from the real Redis broker) and a real SMTP server: the relay joins what is
pending, and each order is still done, retried and failed on its own."""

import logging

import pytest
from celery.signals import task_prerun

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from side_effects.models import OrderSideEffect
from store.models import StockMovement
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.polling import wait_until
from tests.support.processes import relay_drain
from worker.models import DeadLetter

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shoppers(in_process_consumer, smtp_server):
    """Three users whose welcome emails went out (published here: no relay runs), so they
    do not mix with the rest."""
    users = [UserFactory(email=f"shopper{n}@example.com") for n in range(3)]
    relay_drain()
    wait_until(lambda: len(smtp_server.messages) == 3, message="welcome emails")
    return users


def place_pending(users) -> list[int]:
    """One order each; their rows wait in the outbox until the test runs the relay."""
    product = ProductFactory(on_hand=100, low_stock_threshold=0)
    ids = []
    for user in users:
        cart = cart_with(user.customer, (product, 1))
        response = client_for(user).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


def states(order_ids, kind) -> list[str]:
    found = dict(
        OrderSideEffect.objects.filter(order_id__in=order_ids, kind=kind).values_list(
            "order_id", "status"
        )
    )
    return [found[order_id] for order_id in order_ids]


def settled(order_ids) -> bool:
    return not OrderSideEffect.objects.filter(order_id__in=order_ids, status="pending").exists()


def confirmations(smtp_server, order_id) -> int:
    subject = f"Your Shopflow order #{order_id}"
    return sum(1 for m in smtp_server.messages if m["Subject"] == subject)


def test_one_relay_pass_sends_each_side_effect_of_three_orders_as_one_message(
    shoppers, smtp_server
):
    order_ids = place_pending(shoppers)
    received = []

    def record(sender=None, args=None, **_):  # what the worker ran, message by message
        received.append((sender.name, args))

    task_prerun.connect(record, weak=False)
    try:
        assert relay_drain() == 9  # nine rows
        wait_until(lambda: settled(order_ids), message="the side effects")
    finally:
        task_prerun.disconnect(record)

    assert sorted(received) == [  # in three messages
        ("analytics_app.record_analytics", [order_ids]),
        ("email_app.send_confirmation_email", [order_ids]),
        ("store.apply_inventory", [order_ids]),
    ]
    assert states(order_ids, "confirmation_email") == ["done"] * 3
    assert [confirmations(smtp_server, o) for o in order_ids] == [1, 1, 1]
    assert StockMovement.objects.filter(order_item__order_id__in=order_ids).count() == 3
    assert AnalyticsEvent.objects.filter(order_id__in=order_ids).count() == 3


def test_a_poison_order_in_a_batch_fails_alone(shoppers, smtp_server):
    smtp_server.handler.refuse_to = {"shopper1@example.com"}  # for good: 554
    order_ids = place_pending(shoppers)

    relay_drain()
    wait_until(lambda: settled(order_ids), message="the side effects")

    assert states(order_ids, "confirmation_email") == ["done", "failed", "done"]
    assert states(order_ids, "inventory") == ["done"] * 3
    [letter] = DeadLetter.objects.all()
    assert (letter.task_name, letter.args) == (
        "email_app.send_confirmation_email",
        [[order_ids[1]]],
    )
    assert "554" in letter.exception
    assert [confirmations(smtp_server, o) for o in order_ids] == [1, 0, 1]
    confirmed = SentEmail.objects.filter(kind="confirmation_email").values_list("key", flat=True)
    assert sorted(confirmed) == sorted([str(order_ids[0]), str(order_ids[2])])


def test_a_transient_failure_of_one_order_retries_that_order_alone(shoppers, smtp_server, caplog):
    smtp_server.handler.defer_to = {"shopper2@example.com": 2}  # 451 twice, then accepted
    order_ids = place_pending(shoppers)

    with caplog.at_level(logging.WARNING, logger="side_effects.base"):
        # The relay publishes the orders, then the retry once it is due (in the outbox).
        wait_until(lambda: relay_drain() >= 0 and settled(order_ids), message="side effects")

    assert states(order_ids, "confirmation_email") == ["done"] * 3
    assert [confirmations(smtp_server, o) for o in order_ids] == [1, 1, 1]
    retries = [r.getMessage() for r in caplog.records if "transient error, retry" in r.getMessage()]
    # One retry for each refusal, of the order refused alone ...
    assert [
        r.startswith(f"email_app.send_confirmation_email({order_ids[2]})") for r in retries
    ] == [
        True,
        True,
    ]
    assert not DeadLetter.objects.exists()
    # ... in a message of its own: the other two were sent once, first.
    assert smtp_server.messages[-1]["Subject"] == f"Your Shopflow order #{order_ids[2]}"
