"""The reconciler: side effects still pending past their deadline are re-driven through
the outbox, a bounded number of times, then failed and dead-lettered."""

from datetime import timedelta

import pytest
from django.utils import timezone

from side_effects import registry
from side_effects.models import OrderSideEffect
from side_effects.services import side_effects_reconcile
from tests.support.orders import place_order
from worker.celery import app as celery_app
from worker.dead_letters import dead_letters_requeue
from worker.models import DeadLetter, OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _queues_empty():
    """The reconciler leaves a kind whose queue has messages ready: none here, unless a
    test puts one."""
    celery_app.control.purge()


TASKS = {
    "confirmation_email": "email_app.send_confirmation_email",
    "inventory": "store.apply_inventory",
    "analytics": "analytics_app.record_analytics",
}


def effect(order_id, kind) -> OrderSideEffect:
    return OrderSideEffect.objects.get(order_id=order_id, kind=kind)


def past_deadline(order_id, *kinds):
    OrderSideEffect.objects.filter(order_id=order_id, kind__in=kinds).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )


def redriven(order_id) -> list[str]:
    """Task names enqueued since the checkout's own three."""
    rows = OutboxMessage.objects.filter(args=[[order_id]], task_name__in=TASKS.values())
    rows = rows.order_by("id")
    return [row.task_name for row in rows][3:]


def test_each_app_registers_its_side_effect_with_the_task_that_performs_it():
    assert {kind: registry.task_for(kind).name for kind in registry.kinds()} == TASKS


def test_a_new_side_effect_is_due_within_the_deadline(customer, settings):
    before = timezone.now()
    order_id = place_order(customer)["id"]

    deadline = effect(order_id, "inventory").deadline
    window = timedelta(seconds=settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS)
    assert before + window <= deadline <= timezone.now() + window


def test_pending_past_the_deadline_is_redriven_once_through_the_outbox(customer, caplog):
    order_id = place_order(customer)["id"]
    past_deadline(order_id, "inventory")

    with caplog.at_level("WARNING", logger="store.services"):
        assert side_effects_reconcile() == {"redriven": 1, "failed": 0}

    assert redriven(order_id) == ["store.apply_inventory"]
    inventory = effect(order_id, "inventory")
    assert inventory.redrives == 1
    assert inventory.deadline > timezone.now()  # not again at the next round
    assert f"order {order_id} inventory still pending" in caplog.text
    assert side_effects_reconcile() == {"redriven": 0, "failed": 0}


def test_a_deadline_passes_by_the_databases_clock_not_a_hosts_that_runs_ahead(
    customer, monkeypatch
):
    """A reconciler on a host whose clock runs two minutes ahead re-drives nothing that is
    still within its deadline (a minute, by the database's clock)."""
    order_id = place_order(customer)["id"]
    ahead = timezone.now() + timedelta(minutes=2)
    monkeypatch.setattr(timezone, "now", lambda: ahead)

    assert side_effects_reconcile() == {"redriven": 0, "failed": 0}
    assert redriven(order_id) == []


def published_seconds_ago(monkeypatch, seconds, task_name, order_id):
    """A message of `task_name` ready in its queue, stamped as published `seconds` ago (the
    stamp is the publisher's clock: worker.receivers)."""
    import time
    from types import SimpleNamespace

    from worker import receivers

    stamp = time.time() - seconds
    monkeypatch.setattr(receivers, "time", SimpleNamespace(time=lambda: stamp))
    celery_app.send_task(task_name, args=[[order_id]])
    monkeypatch.undo()


def overdue_by(order_id, kind, seconds):
    OrderSideEffect.objects.filter(order_id=order_id, kind=kind).update(
        deadline=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_side_effect_whose_message_may_still_be_in_its_queue_waits_its_turn_uncounted(
    customer, monkeypatch
):
    """Its message was published (within a relay's lease of its due time, a deadline
    before) after the oldest message still ready in its queue: it may be among them, and a
    re-drive would only queue behind them and count against it. The other kinds, whose
    queues are empty, are re-driven."""
    order_id, other = place_order(customer)["id"], place_order(customer)["id"]
    overdue_by(order_id, "inventory", 1)
    overdue_by(order_id, "analytics", 1)
    published_seconds_ago(monkeypatch, 100, TASKS["inventory"], other)

    assert side_effects_reconcile() == {"redriven": 1, "failed": 0}

    assert redriven(order_id) == [TASKS["analytics"]]
    assert effect(order_id, "inventory").redrives == 0


def test_a_side_effect_published_before_its_queues_oldest_message_is_redriven_under_a_backlog(
    customer, monkeypatch, settings
):
    """A queue is first in, first out: a message published before the oldest one still
    ready is not in it (lost), however long the backlog stands. Here the oldest waits 100 s;
    the side effect's message was due 60 s before its deadline and published within the
    relay's 30 s lease of that."""
    order_id, other = place_order(customer)["id"], place_order(customer)["id"]
    published_seconds_ago(monkeypatch, 100, TASKS["inventory"], other)
    lease = settings.SHOPFLOW_OUTBOX_LEASE_SECONDS
    slack = settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS - lease
    overdue_by(order_id, "inventory", 100 - slack + 2)  # published 102 s ago at the latest

    assert side_effects_reconcile() == {"redriven": 1, "failed": 0}

    assert redriven(order_id) == [TASKS["inventory"]]


def test_after_an_outage_a_backlog_holds_back_what_the_relay_published_late(customer, monkeypatch):
    """The relay is not behind now, but a row it published 5 s ago had waited 150 s past
    its due time (the broker was down): a side effect 80 s overdue may have its message
    in the backlog still, and waits; with the rows on time it would be re-driven (the test
    above)."""
    order_id, other = place_order(customer)["id"], place_order(customer)["id"]
    published_seconds_ago(monkeypatch, 100, TASKS["inventory"], other)
    overdue_by(order_id, "inventory", 80)
    now = timezone.now()
    OutboxMessage.objects.filter(args=[[other]]).update(
        created_at=now - timedelta(seconds=155), published_at=now - timedelta(seconds=5)
    )

    assert side_effects_reconcile() == {"redriven": 0, "failed": 0}
    assert effect(order_id, "inventory").redrives == 0


def test_nothing_is_redriven_while_the_relay_is_behind(customer, settings):
    """A row due longer than a relay may hold it is still unpublished: a re-drive would wait
    behind it, and a broker outage would use up the re-drives of every order."""
    order_id = place_order(customer)["id"]
    past_deadline(order_id, "inventory")
    behind = timezone.now() - timedelta(seconds=settings.SHOPFLOW_OUTBOX_LEASE_SECONDS + 5)
    OutboxMessage.objects.filter(published_at=None).update(created_at=behind)

    assert side_effects_reconcile() == {"redriven": 0, "failed": 0}
    assert effect(order_id, "inventory").redrives == 0

    OutboxMessage.objects.update(published_at=timezone.now())  # the relay caught up
    assert side_effects_reconcile() == {"redriven": 1, "failed": 0}


def test_nothing_is_redriven_while_the_broker_cannot_tell_its_queues(customer):
    from tests.support.brokers import celery_broker

    order_id = place_order(customer)["id"]
    past_deadline(order_id, "inventory")

    with celery_broker("redis://127.0.0.1:1/0"):  # nothing listens there
        assert side_effects_reconcile() == {"redriven": 0, "failed": 0}
    assert effect(order_id, "inventory").redrives == 0


def test_side_effects_within_their_deadline_or_done_are_left_alone(customer):
    order_id = place_order(customer)["id"]
    OrderSideEffect.objects.filter(order_id=order_id, kind="analytics").update(status="done")
    past_deadline(order_id, "analytics")

    assert side_effects_reconcile() == {"redriven": 0, "failed": 0}
    assert redriven(order_id) == []


def test_after_the_last_redrive_it_is_failed_and_dead_lettered(client, customer, settings):
    settings.SHOPFLOW_SIDE_EFFECT_MAX_REDRIVES = 2
    order_id = place_order(customer)["id"]
    for _ in range(2):
        past_deadline(order_id, "confirmation_email")
        assert side_effects_reconcile()["redriven"] == 1

    past_deadline(order_id, "confirmation_email")
    assert side_effects_reconcile() == {"redriven": 0, "failed": 1}

    email = effect(order_id, "confirmation_email")
    assert email.status == "failed"
    assert "2 re-drives" in email.error
    letter = DeadLetter.objects.get()
    assert (letter.task_name, letter.args) == ("email_app.send_confirmation_email", [[order_id]])
    assert letter.exception.startswith("SideEffectStuck")
    assert client.get(f"/api/orders/{order_id}/").json()["side_effects"]["confirmation_email"] == (
        "failed"
    )


def test_a_dead_letter_put_back_starts_the_redrives_over(customer, settings):
    settings.SHOPFLOW_SIDE_EFFECT_MAX_REDRIVES = 0
    order_id = place_order(customer)["id"]
    past_deadline(order_id, "analytics")
    assert side_effects_reconcile()["failed"] == 1

    dead_letters_requeue(dead_letter_ids=[DeadLetter.objects.get().pk])

    analytics = effect(order_id, "analytics")
    assert (analytics.status, analytics.redrives) == ("pending", 0)
    assert analytics.deadline > timezone.now()


def test_a_scheduled_retry_moves_the_deadline_past_it(customer, settings):
    from side_effects.services import side_effects_postpone

    order_id = place_order(customer)["id"]
    side_effects_postpone(
        order_ids=[order_id], kind="confirmation_email", seconds=600, attempt_ended=True
    )

    deadline = effect(order_id, "confirmation_email").deadline
    assert deadline > timezone.now() + timedelta(
        seconds=600 + settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS - 5
    )
    assert effect(order_id, "inventory").deadline < deadline


def test_the_reconciler_task_runs_the_service(customer):
    from side_effects.tasks import reconcile as reconcile_side_effects

    order_id = place_order(customer)["id"]
    past_deadline(order_id, "inventory", "analytics")

    assert reconcile_side_effects.apply().get() == {"redriven": 2, "failed": 0}


def test_a_late_delivery_still_applies_what_the_reconciler_gave_up_on(customer):
    """The queue was only late: the order's own task runs after the side effect was
    failed, and does the work (once)."""
    from analytics_app.models import AnalyticsEvent
    from analytics_app.tasks import record_analytics
    from store.models import OrderItem, StockMovement
    from store.tasks import apply_inventory

    order_id = place_order(customer)["id"]
    OrderSideEffect.objects.filter(order_id=order_id).update(status="failed", error="gave up")

    assert apply_inventory.apply(args=[[order_id]]).get() == [order_id]
    assert record_analytics.apply(args=[[order_id]]).get() == [order_id]
    assert apply_inventory.apply(args=[[order_id]]).get() == []  # once

    assert effect(order_id, "inventory").status == "done"
    assert effect(order_id, "analytics").status == "done"
    [item] = OrderItem.objects.filter(order_id=order_id).select_related("product")
    item.product.refresh_from_db()
    assert (item.product.on_hand, item.product.reserved) == (100 - item.quantity, 0)
    assert list(StockMovement.objects.values_list("order_item", "delta")) == [
        (item.pk, -item.quantity)
    ]
    assert AnalyticsEvent.objects.get(order_id=order_id).units == item.quantity


def test_a_delivery_does_only_the_orders_its_message_carries(customer):
    from store.tasks import apply_inventory

    failed, other = place_order(customer)["id"], place_order(customer)["id"]
    OrderSideEffect.objects.filter(order_id=failed).update(status="failed")

    assert apply_inventory.apply(args=[[other]]).get() == [other]

    assert effect(failed, "inventory").status == "failed"  # left to a person, or its task
