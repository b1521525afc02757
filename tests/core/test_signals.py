"""Receivers of a signal sent inside a transaction cannot harm the sender nor each other
(core.signals): their rows go in together, isolated; what the database refuses is
logged and dropped alone."""

import contextlib
import logging

import pytest
from django.db import connection, transaction
from django.dispatch import Signal

from core.signals import insert_isolated, isolated_inserts, send_robust_isolated
from notifications.models import Notification
from side_effects.signals import side_effect_failed
from store.models import Order, PriceChange, Product
from store.services.checkout import order_place
from store.signals import low_stock, order_created, price_changed
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.jobs import order_jobs
from webhooks.events import EVENT_TYPES
from webhooks.models import Delivery, Endpoint
from webhooks.services.deliveries import any_enabled
from webhooks.signals import webhook_failed
from worker.models import Job
from worker.signals import job_failed

pytestmark = pytest.mark.django_db


def notification(user, message: str) -> Notification:
    return Notification(recipient=user, kind="message", message=message)


@pytest.mark.postgres
def test_a_receiver_whose_row_is_too_long_leaves_the_order_and_the_other_receivers_whole(
    caplog,
):
    user = UserFactory()
    cart = cart_with(user.customer, (ProductFactory(), 1))

    def too_long(sender, order, **kwargs):
        insert_isolated([notification(order.customer.user, "x" * 600)])  # varchar(500)

    order_created.connect(too_long, dispatch_uid="test.too_long")
    try:
        with caplog.at_level(logging.ERROR, logger="core.signals"):
            response = client_for(user).post(
                "/api/orders/", {"cart_id": str(cart.pk)}, format="json"
            )
    finally:
        order_created.disconnect(dispatch_uid="test.too_long")

    assert response.status_code == 201
    order_id = response.json()["id"]
    assert Order.objects.filter(pk=order_id).exists()
    assert order_jobs(order_id).count() == 3  # each side effect's receiver
    assert list(Notification.objects.filter(recipient=user).values_list("kind", flat=True)) == [
        "order_placed"  # the notifications app's own receiver, beside the refused row
    ]
    assert "rows refused by the database" in caplog.text
    assert "value too long" in caplog.text


def test_rows_are_held_until_the_block_ends_then_written_together():
    user = UserFactory()
    with transaction.atomic(), isolated_inserts(about="a test"):
        insert_isolated([notification(user, "one")])
        insert_isolated([notification(user, "two")])
        assert not Notification.objects.exists()
    assert sorted(Notification.objects.values_list("message", flat=True)) == ["one", "two"]


def test_outside_a_block_rows_are_written_at_once():
    user = UserFactory()
    with transaction.atomic():
        insert_isolated([notification(user, "now")])
        assert Notification.objects.filter(message="now").exists()


def test_a_block_that_raises_writes_nothing():
    user = UserFactory()
    with pytest.raises(RuntimeError), transaction.atomic(), isolated_inserts(about="a test"):
        insert_isolated([notification(user, "never")])
        raise RuntimeError("the sender failed")
    assert not Notification.objects.exists()


def test_a_nested_block_that_raises_drops_its_own_rows_only():
    user = UserFactory()
    with transaction.atomic(), isolated_inserts(about="the sender"):
        insert_isolated([notification(user, "kept")])
        with contextlib.suppress(RuntimeError), isolated_inserts(about="a receiver"):
            insert_isolated([notification(user, "dropped")])
            raise RuntimeError("the receiver failed after giving its rows")
        insert_isolated([notification(user, "kept too")])
    assert sorted(Notification.objects.values_list("message", flat=True)) == ["kept", "kept too"]


def test_on_commit_callbacks_get_their_rows_once_committed(django_capture_on_commit_callbacks):
    user = UserFactory()
    seen = []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic(), isolated_inserts(about="a test"):
            insert_isolated([notification(user, "a")], on_commit=seen.extend)
            insert_isolated([notification(user, "b")], on_commit=seen.extend)
        assert seen == []  # not before the commit
    assert len(callbacks) == 1  # one call for both groups' rows
    assert [row.message for row in seen] == ["a", "b"]
    assert all(row.pk for row in seen)


def test_each_failing_receiver_is_logged_and_the_others_run(caplog):
    signal = Signal()
    ran = []

    def first(sender, **kwargs):
        raise ValueError("first failed")

    def second(sender, **kwargs):
        ran.append("second")

    signal.connect(first, weak=False)
    signal.connect(second, weak=False)
    with caplog.at_level(logging.ERROR, logger="core.signals"), transaction.atomic():
        responses = send_robust_isolated(signal, sender=None, about="a test signal")

    assert ran == ["second"]
    assert [type(result) for _, result in responses] == [ValueError, type(None)]
    assert "first failed for a test signal" in caplog.text


class BareStatements:
    """An execute wrapper that notes each statement run outside any savepoint opened after
    it was installed (depth read from the savepoint statements themselves)."""

    def __init__(self):
        self.depth, self.bare = 0, []

    def __call__(self, execute, sql, params, many, context):
        statement = sql.lstrip().upper()
        if statement.startswith("SAVEPOINT"):
            self.depth += 1
        elif statement.startswith("RELEASE SAVEPOINT"):
            self.depth -= 1
        elif not statement.startswith("ROLLBACK TO SAVEPOINT") and self.depth == 0:
            self.bare.append(sql)
        return execute(sql, params, many, context)


def test_every_receiver_of_the_domain_signals_runs_its_sql_in_a_savepoint_of_its_own():
    """The rule core.signals relies on, held against every receiver the apps connect: what
    a receiver writes goes through insert_isolated, any other SQL runs in atomic(). (A
    webhook endpoint subscribed to every event: its receivers write too.)"""
    UserFactory(is_staff=True)
    Endpoint.objects.create(url="https://hooks.example.net/", events=EVENT_TYPES, secret="x")
    any_enabled.expire()
    user = UserFactory()
    mug = ProductFactory()
    order = order_place(customer=user.customer, cart_id=cart_with(user.customer, (mug, 1)).pk)
    change = PriceChange.objects.create(product=mug, old_price=1, new_price=2)
    sends = [
        (price_changed, Product, {"change": change}),
        (
            webhook_failed,
            Delivery,
            {"endpoint_id": 1, "url": "https://x/", "delivery_id": "msg_0", "reason": "410"},
        ),
        (order_created, Order, {"order": order.order}),
        (low_stock, Product, {"product": mug, "order_id": order.order.pk, "available": 1}),
        (job_failed, Job, {"kind": "analytics", "key": str(order.order.pk), "error": "boom"}),
        (
            side_effect_failed,
            Job,
            {"order_id": order.order.pk, "kind": "analytics", "error": "SMTP 554"},
        ),
    ]
    for signal, sender, named in sends:
        tracker = BareStatements()
        with transaction.atomic(), connection.execute_wrapper(tracker):
            responses = send_robust_isolated(signal, sender=sender, about="a test", **named)
        assert [r for r in responses if isinstance(r[1], Exception)] == []
        assert tracker.bare == [], f"receivers of {named} ran SQL outside a savepoint"


def test_a_receiver_whose_own_write_is_refused_leaves_the_receivers_after_it_whole(caplog):
    signal, user = Signal(), UserFactory()
    order = Order.objects.create(customer=user.customer, total=1)

    def refused(sender, **kwargs):
        with transaction.atomic():  # its own SQL, in a savepoint of its own
            Job.objects.create(kind="test_refused", key=str(order.pk))
            Job.objects.create(kind="test_refused", key=str(order.pk))  # unique

    def after(sender, **kwargs):
        with transaction.atomic():
            Job.objects.create(kind="test_after", key=str(order.pk))
        insert_isolated([notification(user, "after")])

    signal.connect(refused, weak=False)
    signal.connect(after, weak=False)
    with caplog.at_level(logging.ERROR, logger="core.signals"), transaction.atomic():
        send_robust_isolated(signal, sender=None, about="a test signal")
        assert Order.objects.filter(pk=order.pk).exists()  # the sender's transaction works

    kinds = Job.objects.filter(kind__startswith="test_").values_list("kind", flat=True)
    assert list(kinds) == ["test_after"]
    assert Notification.objects.filter(message="after").exists()
    assert "refused failed for a test signal" in caplog.text
