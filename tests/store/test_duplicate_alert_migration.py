"""The migration that batches duplicate-order alerts (store 0008) marks the orders the
per-order alerts of before already told staff of, so that the first window does not tell
them again, and leaves to it those whose own email had not gone out."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("store", "0007_rename_inventory_task"), ("email_app", "0004_confirmation_email")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_orders_alerted_one_by_one_are_not_alerted_again_those_unsent_are_left_to_the_window():
    try:
        old = migrate(BEFORE)
        user = old.get_model("auth", "User").objects.create(username="ada", email="a@ex.com")
        customer = old.get_model("store", "Customer").objects.create(user=user)
        orders = old.get_model("store", "Order").objects

        def placed(days_ago=0, duplicate_of=None):
            order = orders.create(customer=customer, total="9.50", duplicate_of=duplicate_of)
            at = timezone.now() - timedelta(days=days_ago)
            orders.filter(pk=order.pk).update(placed_at=at)
            return order

        first = placed()
        emailed, unsent, long_ago = placed(0, first), placed(0, first), placed(3, first)
        old.get_model("email_app", "SentEmail").objects.create(
            kind="duplicate_order_alert", key=str(emailed.pk), subject="dup", status="sent"
        )
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from store.models import Order

    alerted = dict(Order.objects.values_list("pk", "duplicate_alert__window_start__year"))
    assert alerted == {first.pk: None, emailed.pk: 1970, unsent.pk: None, long_ago.pk: 1970}
