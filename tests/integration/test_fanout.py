"""A checkout's side effects through a real Celery worker (in this process, consuming
from the real Redis broker) and a real SMTP server."""

import logging
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from side_effects.models import OrderSideEffect
from side_effects.services import side_effects_reconcile
from store.models import Product, StockMovement
from tests.factories import ProductFactory, UserFactory
from tests.support.clients import client_for
from tests.support.orders import place_order
from tests.support.polling import wait_until
from tests.support.smtp import body_text
from worker.celery import app as celery_app
from worker.models import DeadLetter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite_too]

SIDE_EFFECT_TASKS = [
    "email_app.send_confirmation_email",
    "store.apply_inventory",
    "analytics_app.record_analytics",
]


def side_effects(user, order_id) -> dict:
    return client_for(user).get(f"/api/orders/{order_id}/").json()["side_effects"]


def wait_for_side_effects(user, order_id, expected: dict, timeout=30):
    return wait_until(
        lambda: side_effects(user, order_id) == expected or None,
        timeout=timeout,
        message=f"side effects of order {order_id} to be {expected}",
    )


ALL_DONE = {"confirmation_email": "done", "inventory": "done", "analytics": "done"}


def confirmations(smtp_server, order_id):
    return [m for m in smtp_server.messages if m["Subject"] == f"Your Shopflow order #{order_id}"]


@pytest.fixture
def shopper(in_process_worker, smtp_server):
    """A user whose welcome email has already gone out, so it does not mix with the rest."""
    user = UserFactory(email="grace@example.com")
    wait_until(lambda: smtp_server.messages_to("grace@example.com"), message="welcome email")
    return user


def test_checkout_sends_one_email_applies_stock_and_logs_one_event(shopper, smtp_server):
    lamp = ProductFactory(name="Desk Lamp", sku="LAMP-1", price="64.00", on_hand=10)
    pens = ProductFactory(name="Pen", sku="PEN-1", price="2.50", on_hand=100)

    order = place_order(shopper.customer, (lamp, 1), (pens, 4))
    wait_for_side_effects(shopper, order["id"], ALL_DONE)

    [message] = confirmations(smtp_server, order["id"])
    assert message["To"] == "grace@example.com"
    text = body_text(message)
    assert f"order #{order['id']}" in text
    assert "1 x Desk Lamp (LAMP-1) at 64.00 EUR = 64.00 EUR" in text
    assert "4 x Pen (PEN-1) at 2.50 EUR = 10.00 EUR" in text
    assert "Total: 74.00 EUR" in text
    assert any(p.get_content_type() == "text/html" for p in message.walk())

    lamp.refresh_from_db()
    pens.refresh_from_db()
    assert (lamp.on_hand, lamp.reserved) == (9, 0)
    assert (pens.on_hand, pens.reserved) == (96, 0)
    assert StockMovement.objects.filter(order_item__order_id=order["id"]).count() == 2

    event = AnalyticsEvent.objects.get(order_id=order["id"])
    assert event.units == 5 and str(event.revenue) == "74.00"
    assert event.customer_id == shopper.customer.pk


def test_second_delivery_sends_no_second_email_applies_no_stock_logs_no_event(shopper, smtp_server):
    product = ProductFactory(on_hand=10)
    order = place_order(shopper.customer, (product, 2))
    wait_for_side_effects(shopper, order["id"], ALL_DONE)

    # The same tasks delivered again, through the broker to the worker. (Side-effect tasks
    # store no result; these deliveries ask for one, to see what the tasks returned.)
    again = [
        celery_app.send_task(name, args=[[order["id"]]], ignore_result=False)
        for name in SIDE_EFFECT_TASKS
    ]
    assert [result.get(timeout=30) for result in again] == [[], [], []]

    assert len(confirmations(smtp_server, order["id"])) == 1
    assert SentEmail.objects.get(kind="confirmation_email", key=str(order["id"])).status == "sent"
    product.refresh_from_db()
    assert (product.on_hand, product.reserved) == (8, 0)
    assert list(StockMovement.objects.filter(product=product).values_list("delta", flat=True)) == [
        -2
    ]
    assert AnalyticsEvent.objects.get(order_id=order["id"]).units == 2


def test_smtp_refusing_twice_then_accepting_sends_one_email_after_backoff(
    shopper, smtp_server, caplog
):
    product = ProductFactory(on_hand=10, low_stock_threshold=0)
    smtp_server.handler.refuse_next = 2
    attempts_before = smtp_server.handler.attempts

    with caplog.at_level(logging.WARNING, logger="side_effects.base"):
        order = place_order(shopper.customer, (product, 1))
        wait_for_side_effects(shopper, order["id"], ALL_DONE)

    assert len(confirmations(smtp_server, order["id"])) == 1
    assert smtp_server.handler.attempts - attempts_before == 3
    retries = [r.getMessage() for r in caplog.records if "transient error, retry" in r.getMessage()]
    assert len(retries) == 2
    assert "retry 1/3" in retries[0] and "retry 2/3" in retries[1]
    assert "451" in retries[0]
    # Waits drawn with full jitter from 0..min(cap, factor * 2**n) (fast_retries: 1 s, 2 s
    # cap), not Celery's fixed 180 s default.
    waits = [int(re.search(r" in (\d+)s:", line).group(1)) for line in retries]
    assert 0 <= waits[0] <= 1 and 0 <= waits[1] <= 2
    assert not DeadLetter.objects.exists()


def test_smtp_refusing_for_good_dead_letters_then_admin_requeue_sends_it(shopper, smtp_server):
    product = ProductFactory(on_hand=10, low_stock_threshold=0)
    smtp_server.handler.refuse_always = True

    order = place_order(shopper.customer, (product, 1))
    wait_for_side_effects(shopper, order["id"], {**ALL_DONE, "confirmation_email": "failed"})

    letter = DeadLetter.objects.get()
    assert letter.task_name == "email_app.send_confirmation_email"
    assert letter.args == [[order["id"]]]
    assert "554" in letter.exception and "Traceback" in letter.traceback
    assert letter.attempts == 1  # a permanent refusal is not retried
    assert not SentEmail.objects.filter(kind="confirmation_email").exists()
    assert OrderSideEffect.objects.get(order_id=order["id"], kind="confirmation_email").error

    smtp_server.handler.refuse_always = False
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x"))
    response = admin.post(
        "/admin/worker/deadletter/",
        {"action": "requeue", "_selected_action": [letter.pk]},
    )
    assert response.status_code == 302

    wait_for_side_effects(shopper, order["id"], ALL_DONE)
    assert len(confirmations(smtp_server, order["id"])) == 1
    letter.refresh_from_db()
    assert letter.requeued_at is not None


def test_transient_errors_past_the_retry_limit_end_in_a_dead_letter(shopper, smtp_server):
    product = ProductFactory(on_hand=10, low_stock_threshold=0)
    smtp_server.handler.refuse_next = 100

    order = place_order(shopper.customer, (product, 1))
    wait_for_side_effects(
        shopper, order["id"], {**ALL_DONE, "confirmation_email": "failed"}, timeout=60
    )

    letter = DeadLetter.objects.get()
    assert letter.attempts == 4  # the first try and three retries
    assert "451" in letter.exception


def test_task_for_a_missing_order_finishes_without_effect(in_process_worker):
    results = [
        celery_app.send_task(name, args=[[987654]], ignore_result=False)
        for name in SIDE_EFFECT_TASKS
    ]
    assert [r.get(timeout=30) for r in results] == [[], [], []]
    assert not DeadLetter.objects.exists()


def test_reliable_tasks_store_no_success_result_but_do_store_failures(shopper):
    """A side-effect task's run does not fail as a whole (each order fails alone, in its
    dead letter and its state); another task's failure is stored for Flower and the admin."""
    from django_celery_results.models import TaskResult

    order = place_order(shopper.customer, (ProductFactory(on_hand=10), 1))
    wait_for_side_effects(shopper, order["id"], ALL_DONE)
    failed = celery_app.send_task("email_app.send_welcome_email", args=["not-an-id"])
    wait_until(lambda: TaskResult.objects.filter(task_id=failed.id).exists(), message="FAILURE")

    stored = dict(TaskResult.objects.values_list("task_id", "status"))
    assert stored == {failed.id: "FAILURE"}  # the order's three successes: not stored


def test_malformed_payload_is_dead_lettered_not_retried(in_process_worker):
    celery_app.send_task("store.apply_inventory", args=[["not-an-id"]])
    letter = wait_until(lambda: DeadLetter.objects.first(), message="dead letter")
    assert letter.args == [["not-an-id"]] and letter.attempts == 1


def test_low_stock_alert_goes_to_staff_once(shopper, smtp_server, settings):
    settings.SHOPFLOW_STAFF_EMAILS = ["warehouse@example.com"]
    product = ProductFactory(name="Keyboard", sku="KBD-1", on_hand=6, low_stock_threshold=5)

    order = place_order(shopper.customer, (product, 2))
    wait_for_side_effects(shopper, order["id"], ALL_DONE)
    [alert] = wait_until(lambda: smtp_server.messages_to("warehouse@example.com"))

    assert "Low stock: Keyboard (KBD-1)" in alert["Subject"]
    assert Product.objects.get(pk=product.pk).available == 4
    assert SentEmail.objects.filter(kind="low_stock_alert").count() == 1


def test_a_dead_letter_the_database_cannot_take_is_requeued_not_lost(
    in_process_worker, monkeypatch
):
    """If recording the failure fails (database down), the message goes back to its
    queue rather than being acknowledged into the void."""
    from django.db import OperationalError

    from worker import dead_letters

    attempts = []
    record = dead_letters.dead_letter_record

    def database_down_twice(**fields):
        attempts.append(fields["task_id"])
        if len(attempts) <= 2:
            raise OperationalError("could not connect to server")
        return record(**fields)

    monkeypatch.setattr(dead_letters, "dead_letter_record", database_down_twice)
    result = celery_app.send_task("store.apply_inventory", args=[["not-an-id"]])

    letter = wait_until(lambda: DeadLetter.objects.first(), message="the dead letter")
    assert attempts == [result.id] * 3  # the same message, delivered three times
    assert letter.task_id == result.id and letter.args == [["not-an-id"]]


# --- The reconciler ---------------------------------------------------------------------------


def test_a_receiver_that_raised_leaves_a_side_effect_the_reconciler_completes(shopper, caplog):
    from datetime import timedelta

    from django.utils import timezone

    from store.receivers import enqueue_inventory
    from store.signals import order_created

    def broken(sender, order, **kwargs):
        raise RuntimeError("the inventory receiver failed")

    order_created.disconnect(dispatch_uid="store.enqueue_inventory")
    order_created.connect(broken, dispatch_uid="store.enqueue_inventory")
    try:
        with caplog.at_level(logging.ERROR):
            order = place_order(shopper.customer, (ProductFactory(on_hand=5), 2))
    finally:
        order_created.disconnect(dispatch_uid="store.enqueue_inventory")
        order_created.connect(enqueue_inventory, dispatch_uid="store.enqueue_inventory")
    assert "the inventory receiver failed" in caplog.text
    wait_for_side_effects(shopper, order["id"], {**ALL_DONE, "inventory": "pending"})

    OrderSideEffect.objects.filter(order_id=order["id"]).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    assert side_effects_reconcile() == {"redriven": 1, "failed": 0}

    wait_for_side_effects(shopper, order["id"], ALL_DONE)
    assert list(
        StockMovement.objects.filter(order_item__order_id=order["id"]).values_list("delta")
    ) == [(-order["items"][0]["quantity"],)]
