"""A checkout's side effects through a real Celery worker (in this process, consuming
from the real Redis broker, the dispatcher in a thread) and a real SMTP server:
the order's three jobs, each woken on its kind's queue, done, retried and failed on its own."""

import logging
import re

import pytest
from celery.signals import task_prerun
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client

from analytics_app.models import AnalyticsEvent
from email_app.models import SentEmail
from store.models import Product, StockMovement
from tests.factories import ProductFactory, UserFactory
from tests.support.clients import client_for
from tests.support.jobs import order_jobs
from tests.support.orders import place_order
from tests.support.polling import wait_until
from tests.support.smtp import body_text
from worker.celery import app as celery_app
from worker.jobs import enqueue_on_commit
from worker.models import Job
from worker.tasks_base import job_tasks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite_too]

# Each side effect's task and the queue its wake-ups go to.
SIDE_EFFECT_QUEUES = {
    "email_app.send_confirmation_email": "emails",
    "store.apply_inventory": "inventory",
    "analytics_app.record_analytics": "analytics",
}
KINDS = ("confirmation_email", "inventory", "analytics")


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


def job(order_id, kind) -> Job:
    return order_jobs(order_id).get(kind=kind)


@pytest.fixture
def shopper(in_process_worker, smtp_server):
    """A user whose welcome email has already gone out, so it does not mix with the rest."""
    user = UserFactory(email="grace@example.com")
    wait_until(lambda: smtp_server.messages_to("grace@example.com"), message="welcome email")
    return user


@pytest.fixture
def woken():
    """The side-effect runs the worker starts: (task, the queue its wake-up came from)."""
    runs = []

    def record(sender=None, task=None, **_):
        if sender.name in SIDE_EFFECT_QUEUES:
            runs.append((sender.name, task.request.delivery_info.get("routing_key")))

    task_prerun.connect(record, weak=False)
    yield runs
    task_prerun.disconnect(record)


def test_checkout_sends_one_email_applies_stock_and_logs_one_event(shopper, smtp_server, woken):
    lamp = ProductFactory(name="Desk Lamp", sku="LAMP-1", price="64.00", on_hand=10)
    pens = ProductFactory(name="Pen", sku="PEN-1", price="2.50", on_hand=100)

    order = place_order(shopper.customer, (lamp, 1), (pens, 4))
    wait_for_side_effects(shopper, order["id"], ALL_DONE)

    # Three jobs, each woken on its own kind's queue and done at its first attempt.
    assert set(woken) == set(SIDE_EFFECT_QUEUES.items())
    assert sorted(order_jobs(order["id"]).values_list("kind", "status", "attempts")) == [
        ("analytics", "done", 1),
        ("confirmation_email", "done", 1),
        ("inventory", "done", 1),
    ]
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


def test_second_run_sends_no_second_email_applies_no_stock_logs_no_event(shopper, smtp_server):
    product = ProductFactory(on_hand=10)
    order = place_order(shopper.customer, (product, 2))
    wait_for_side_effects(shopper, order["id"], ALL_DONE)

    # Wake-ups delivered again, through the broker to the worker: nothing is due, nothing
    # runs. (Job tasks store no result; these deliveries ask for one, to see what they did.)
    again = [celery_app.send_task(name, ignore_result=False) for name in SIDE_EFFECT_QUEUES]
    assert [result.get(timeout=30) for result in again] == [[], [], []]
    # The work itself run again: the order's jobs due again, as after an attempt whose
    # done record was lost. The dispatcher wakes them; each task finds its effect there.
    order_jobs(order["id"]).update(status=Job.Status.PENDING, ended_at=None)
    wait_until(
        lambda: order_jobs(order["id"]).filter(status="done", attempts=2).count() == 3,
        message="the second runs",
    )

    assert len(confirmations(smtp_server, order["id"])) == 1
    assert SentEmail.objects.filter(kind="confirmation_email", key=str(order["id"])).count() == 1
    product.refresh_from_db()
    assert (product.on_hand, product.reserved) == (8, 0)
    assert list(StockMovement.objects.filter(product=product).values_list("delta", flat=True)) == [
        -2
    ]
    assert AnalyticsEvent.objects.filter(order_id=order["id"]).count() == 1
    assert AnalyticsEvent.objects.get(order_id=order["id"]).units == 2


def test_smtp_refusing_twice_then_accepting_sends_one_email_after_backoff(
    shopper, smtp_server, caplog
):
    product = ProductFactory(on_hand=10, low_stock_threshold=0)
    smtp_server.handler.refuse_next = 2
    attempts_before = smtp_server.handler.attempts

    with caplog.at_level(logging.WARNING, logger="worker.tasks_base"):
        order = place_order(shopper.customer, (product, 1))
        wait_for_side_effects(shopper, order["id"], ALL_DONE)

    assert len(confirmations(smtp_server, order["id"])) == 1
    assert smtp_server.handler.attempts - attempts_before == 3
    assert job(order["id"], "confirmation_email").attempts == 3
    retries = [r.getMessage() for r in caplog.records if "transient error" in r.getMessage()]
    assert len(retries) == 2
    assert "attempt 1/4" in retries[0] and "attempt 2/4" in retries[1]
    assert "451" in retries[0]
    # Waits drawn with full jitter from 0..min(cap, factor * 2**n) (fast_retries: 1 s, 2 s
    # cap), not Celery's fixed 180 s default.
    waits = [int(re.search(r" again in (\d+)s:", line).group(1)) for line in retries]
    assert 0 <= waits[0] <= 1 and 0 <= waits[1] <= 2
    assert not order_jobs().filter(status=Job.Status.FAILED).exists()


def test_smtp_refusing_for_good_fails_the_job_then_admin_redrive_sends_it(shopper, smtp_server):
    product = ProductFactory(on_hand=10, low_stock_threshold=0)
    smtp_server.handler.refuse_always = True

    order = place_order(shopper.customer, (product, 1))
    wait_for_side_effects(shopper, order["id"], {**ALL_DONE, "confirmation_email": "failed"})

    failed = job(order["id"], "confirmation_email")
    assert failed.attempts == 1  # a permanent refusal is not retried
    assert "554" in failed.last_error and failed.ended_at is not None
    assert not SentEmail.objects.filter(kind="confirmation_email").exists()

    smtp_server.handler.refuse_always = False
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x"))
    response = admin.post(
        "/admin/worker/job/", {"action": "redrive", "_selected_action": [failed.pk]}
    )
    assert response.status_code == 302

    wait_for_side_effects(shopper, order["id"], ALL_DONE)
    assert len(confirmations(smtp_server, order["id"])) == 1
    redriven = job(order["id"], "confirmation_email")
    assert (redriven.attempts, redriven.last_error) == (1, "")  # counted from zero again


def test_transient_errors_past_the_last_attempt_fail_the_job(shopper, smtp_server):
    product = ProductFactory(on_hand=10, low_stock_threshold=0)
    smtp_server.handler.refuse_next = 100

    order = place_order(shopper.customer, (product, 1))
    wait_for_side_effects(
        shopper, order["id"], {**ALL_DONE, "confirmation_email": "failed"}, timeout=60
    )

    failed = job(order["id"], "confirmation_email")
    assert failed.attempts == 4  # the first try and three retries
    assert "451" in failed.last_error


def test_jobs_for_a_missing_order_end_done_without_effect(in_process_worker, smtp_server):
    with transaction.atomic():
        for task in (job_tasks()[kind] for kind in KINDS):
            enqueue_on_commit(task, 987654)

    wait_until(
        lambda: order_jobs(987654).filter(status="done").count() == 3,
        message="the three jobs done",
    )
    assert set(order_jobs(987654).values_list("attempts", flat=True)) == {1}
    assert not confirmations(smtp_server, 987654)
    assert not StockMovement.objects.exists() and not AnalyticsEvent.objects.exists()


def test_job_tasks_store_no_result_but_a_plain_tasks_failure_is_stored(shopper):
    """A job task's run does not fail as a whole (each job ends on its own, in its row);
    a failure of a task not on the job engine is stored for Flower and the admin."""
    from django_celery_results.models import TaskResult

    order = place_order(shopper.customer, (ProductFactory(on_hand=10), 1))
    wait_for_side_effects(shopper, order["id"], ALL_DONE)
    failed = celery_app.send_task("store.alert_duplicate_orders", args=["unexpected"])
    wait_until(lambda: TaskResult.objects.filter(task_id=failed.id).exists(), message="FAILURE")

    stored = dict(TaskResult.objects.values_list("task_id", "status"))
    assert stored == {failed.id: "FAILURE"}  # the order's three runs: not stored


def test_a_job_whose_key_its_task_cannot_read_fails_alone_not_retried(in_process_worker):
    with transaction.atomic():
        enqueue_on_commit(job_tasks()["inventory"], "not-an-id")

    wait_until(
        lambda: order_jobs("not-an-id").filter(status="failed").exists(), message="failed job"
    )
    failed = order_jobs("not-an-id").get()
    assert failed.attempts == 1 and "ValueError" in failed.last_error


def test_low_stock_alert_goes_to_staff_once(shopper, smtp_server, settings):
    settings.SHOPFLOW_STAFF_EMAILS = ["warehouse@example.com"]
    product = ProductFactory(name="Keyboard", sku="KBD-1", on_hand=6, low_stock_threshold=5)

    order = place_order(shopper.customer, (product, 2))
    wait_for_side_effects(shopper, order["id"], ALL_DONE)
    [alert] = wait_until(lambda: smtp_server.messages_to("warehouse@example.com"))

    assert "Low stock: Keyboard (KBD-1)" in alert["Subject"]
    assert Product.objects.get(pk=product.pk).available == 4
    assert SentEmail.objects.filter(kind="low_stock_alert").count() == 1
