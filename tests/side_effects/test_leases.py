"""Leases: a side effect whose worker holds its message is the worker's until its lease
lapses; then the reconciler re-drives it without waiting for its deadline. A retry's wait
is no one's lease."""

from datetime import timedelta

import pytest
from django.utils import timezone

from email_app.tasks import send_confirmation_email
from side_effects.models import OrderSideEffect, SideEffectLease
from side_effects.services import (
    side_effects_lease,
    side_effects_mark_done,
    side_effects_postpone,
    side_effects_reconcile,
)
from store.tasks import apply_inventory
from tests.support.orders import place_order
from worker.models import OutboxMessage

pytestmark = pytest.mark.django_db


def lease(order_ids, kind, seconds):
    side_effects_lease(
        order_ids=order_ids, kind=kind, until=timezone.now() + timedelta(seconds=seconds)
    )


def redrives(order_id, kind) -> int:
    return OrderSideEffect.objects.get(order_id=order_id, kind=kind).redrives


def test_a_lapsed_lease_is_redriven_long_before_its_deadline_and_once(customer):
    order_id = place_order(customer)["id"]
    lease([order_id], "inventory", seconds=-1)  # its worker stopped renewing a second ago

    assert side_effects_reconcile() == {"redriven": 1, "failed": 0}
    assert redrives(order_id, "inventory") == 1
    published = OutboxMessage.objects.filter(task_name=apply_inventory.name, args=[[order_id]])
    assert published.count() == 2  # the checkout's, and the re-drive's
    assert not SideEffectLease.objects.exists()
    # The re-drive's message is on its way: nothing more until its deadline or lease.
    assert side_effects_reconcile() == {"redriven": 0, "failed": 0}


def test_a_live_lease_is_no_reason_to_redrive(customer):
    order_id = place_order(customer)["id"]
    lease([order_id], "inventory", seconds=20)

    assert side_effects_reconcile() == {"redriven": 0, "failed": 0}
    assert SideEffectLease.objects.get(order_id=order_id).kind == "inventory"


def test_renewing_moves_the_one_lease_of_a_side_effect(customer):
    order_id = place_order(customer)["id"]
    lease([order_id, order_id], "inventory", seconds=1)
    lease([order_id], "inventory", seconds=20)

    [row] = SideEffectLease.objects.all()
    assert row.until > timezone.now() + timedelta(seconds=15)


def test_a_lapsed_lease_of_a_side_effect_done_is_cleared_not_redriven(customer):
    order_id = place_order(customer)["id"]
    lease([order_id], "inventory", seconds=-1)
    side_effects_mark_done(order_ids=[order_id], kind="inventory")

    assert side_effects_reconcile() == {"redriven": 0, "failed": 0}
    assert not SideEffectLease.objects.exists()


def test_a_scheduled_retry_ends_the_lease(customer):
    """Between attempts no worker holds the message: a lease lapsing then must not re-drive
    what the retry will do."""
    order_id = place_order(customer)["id"]
    lease([order_id], "confirmation_email", seconds=-1)

    side_effects_postpone(order_ids=[order_id], kind="confirmation_email", seconds=30)

    assert side_effects_reconcile() == {"redriven": 0, "failed": 0}


def test_a_task_leases_the_orders_of_every_message_it_holds(customer):
    first, second = place_order(customer)["id"], place_order(customer)["id"]
    until = timezone.now() + timedelta(seconds=20)

    # A batch message, and one of the shape before batches (one id).
    send_confirmation_email.lease_held(
        messages=[([[first, second]], {}), ([first], {})], until=until
    )

    leases = SideEffectLease.objects.values_list("order_id", "kind", "until")
    assert sorted(leases) == [
        (first, "confirmation_email", until),
        (second, "confirmation_email", until),
    ]
