"""The receivers of `order_created`, each on its own: one that fails is logged with its
traceback while the order and the other receivers go on; each writes in a savepoint of its
own that commits with the order; an enqueue made before a failure stands; no receiver's
failure costs an order a side effect (the checkout opens them); and the core audit receiver
logs one line per order."""

import logging

import pytest

from store.models import Order
from store.signals import order_created
from tests.factories import cart_with
from tests.support.jobs import jobs_run, order_jobs
from tests.support.orders import checkout, stock
from worker.models import Job

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite_too]


def test_failing_receiver_is_logged_and_the_order_and_other_receivers_go_on(
    client, customer, product, caplog
):
    ran = []

    def broken(sender, order, **kwargs):
        raise RuntimeError("receiver exploded")

    def after(sender, order, **kwargs):
        ran.append(order.pk)

    order_created.connect(broken, dispatch_uid="test.broken")
    order_created.connect(after, dispatch_uid="test.after")
    try:
        with caplog.at_level(logging.ERROR, logger="core.signals"):
            response = checkout(client, cart_with(customer, (product, 1)).pk)
    finally:
        order_created.disconnect(dispatch_uid="test.broken")
        order_created.disconnect(dispatch_uid="test.after")

    assert response.status_code == 201
    order_id = response.json()["id"]
    assert Order.objects.filter(pk=order_id).exists()
    assert ran == [order_id]
    # The app's own receivers ran too: their jobs are there.
    assert order_jobs(order_id).count() == 3
    [record] = [r for r in caplog.records if r.name == "core.signals"]
    assert "<locals>.broken failed" in record.getMessage()
    assert f"for order_created, order {order_id}" in record.getMessage()
    assert isinstance(record.exc_info[1], RuntimeError)
    assert "Traceback" in caplog.text and 'raise RuntimeError("receiver exploded")' in caplog.text


def test_receiver_writes_in_its_own_savepoint_commit_with_the_order(client, customer, product):
    from django.db import transaction

    def note(sender, order, **kwargs):
        with transaction.atomic():
            Job.objects.create(kind="test_note", key=str(order.pk), last_error="noted")

    def noted_then_failed(sender, order, **kwargs):
        with transaction.atomic():
            Job.objects.create(kind="test_lost", key=str(order.pk))
            Job.objects.create(kind="test_note", key=str(order.pk))  # unique violation

    order_created.connect(note, dispatch_uid="test.note")
    order_created.connect(noted_then_failed, dispatch_uid="test.noted_then_failed")
    try:
        response = checkout(client, cart_with(customer, (product, 1)).pk)
    finally:
        order_created.disconnect(dispatch_uid="test.note")
        order_created.disconnect(dispatch_uid="test.noted_then_failed")

    assert response.status_code == 201
    order_id = str(response.json()["id"])
    # The user's welcome email is a job keyed by their id, which may be the order's.
    jobs = Job.objects.filter(key=order_id).exclude(kind="welcome_email")
    assert dict(jobs.values_list("kind", "last_error")) == {
        "test_note": "noted",
        "analytics": "",
        "inventory": "",
        "confirmation_email": "",
    }


def test_a_receiver_that_raises_after_enqueueing_keeps_its_enqueue(client, customer, product):
    """As a write it made before would stand: a receiver is one line, and a call to
    enqueue_on_commit is a commitment, whatever the receiver does after."""
    from email_app.tasks import send_welcome_email
    from worker.jobs import enqueue_on_commit

    def half_done(sender, order, **kwargs):
        enqueue_on_commit(send_welcome_email, 424242)
        raise RuntimeError("after the enqueue")

    order_created.connect(half_done, dispatch_uid="test.half_done")
    try:
        response = checkout(client, cart_with(customer, (product, 1)).pk)
    finally:
        order_created.disconnect(dispatch_uid="test.half_done")

    assert response.status_code == 201
    assert order_jobs(response.json()["id"]).count() == 3
    assert Job.objects.filter(kind="welcome_email", key="424242").exists()


def test_no_receiver_can_cost_an_order_a_side_effect(client, customer, product, caplog):
    """The checkout opens the order's side effects itself, in its transaction: every
    receiver of order_created may fail and the order still has a job of each kind."""

    def broken(sender, order, **kwargs):
        raise RuntimeError("receiver exploded")

    saved = list(order_created.receivers)
    order_created.receivers.clear()
    order_created.connect(broken, dispatch_uid="test.broken")
    try:
        with caplog.at_level(logging.ERROR, logger="core.signals"):
            response = checkout(client, cart_with(customer, (product, 1)).pk)
    finally:
        order_created.receivers[:] = saved
        order_created.sender_receivers_cache.clear()

    assert response.status_code == 201
    order_id = response.json()["id"]
    assert sorted(order_jobs(order_id).values_list("kind", flat=True)) == [
        "analytics",
        "confirmation_email",
        "inventory",
    ]
    assert jobs_run("inventory") == [str(order_id)]
    assert stock(product) == (19, 0)


def test_core_audit_receiver_logs_one_line_per_order(client, customer, product, caplog):
    with caplog.at_level(logging.INFO, logger="shopflow.audit"):
        order_id = checkout(client, cart_with(customer, (product, 2)).pk).json()["id"]
    lines = [r.getMessage() for r in caplog.records if r.name == "shopflow.audit"]
    assert lines == [f"order_created order={order_id} customer={customer.pk} total=25.00"]
