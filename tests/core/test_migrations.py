"""A database of the layout before the apps moved out of core and store (its last
migrations: core 0002, store 0005, worker 0005, email_app 0003, analytics_app 0001)
migrates forward with every row where the new layout looks for it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [
    ("core", "0002_login_audit"),
    ("store", "0005_duplicates_and_price_history"),
    ("worker", "0005_schedule_login_audit_prune"),
    ("email_app", "0003_duplicate_order_alert"),
    ("analytics_app", "0001_initial"),
    ("contenttypes", "0002_remove_content_type_name"),
    ("accounts", None),
    ("notifications", None),
    ("messaging", None),
    ("side_effects", None),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([node for node in targets if node[1]]).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def fill(apps) -> dict:
    """Rows of every model that moves, and of every name that changes, at the old schema."""
    user = apps.get_model("auth", "User").objects.create(username="ada", email="a@example.com")
    customer = apps.get_model("store", "Customer").objects.create(user=user)
    product = apps.get_model("store", "Product").objects.create(
        sku="MUG", name="Mug", price="9.50", on_hand=10
    )
    order = apps.get_model("store", "Order").objects.create(customer=customer, total="9.50")
    apps.get_model("store", "OrderItem").objects.create(
        order=order, product=product, unit_price="9.50", quantity=1
    )
    apps.get_model("store", "OrderSideEffect").objects.create(
        order=order, kind="inventory", status="done", redrives=2
    )
    core = {name: apps.get_model("core", name) for name in ("Notification", "Message")}
    core["Notification"].objects.create(recipient=user, kind="order_placed", message="Hi")
    core["Message"].objects.create(order=order, author=user, body="Gift wrap?")
    apps.get_model("core", "LoginEvent").objects.create(user=user, method="token", ip="10.0.0.1")
    apps.get_model("core", "LoginFailure").objects.create(username="eve", ip="10.0.0.2")
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in ("notification", "message", "loginevent", "loginfailure"):
        content_type.objects.get_or_create(app_label="core", model=model)
    content_type.objects.get_or_create(app_label="store", model="ordersideeffect")
    apps.get_model("email_app", "SentEmail").objects.create(
        kind="order_confirmation", key=str(order.pk), subject="Your order", status="sent"
    )
    outbox = apps.get_model("worker", "OutboxMessage")
    outbox.objects.create(task_name="store.apply_order_inventory", args=[order.pk])
    outbox.objects.create(
        task_name="analytics_app.record_order_event", args=[order.pk], published_at=timezone.now()
    )
    apps.get_model("worker", "DeadLetter").objects.create(
        task_name="email_app.send_order_confirmation", args=[order.pk], exception="SMTP 554"
    )
    return {"order": order.pk, "user": user.pk}


@pytest.mark.django_db(transaction=True)
def test_a_database_of_the_old_layout_migrates_forward_with_nothing_lost():
    try:
        old = migrate(BEFORE)
        ids = fill(old)
        beat = set(old.get_model("django_celery_beat", "PeriodicTask").objects.values_list("task"))
        assert {("store.reconcile_side_effects",), ("core.prune_login_audit",)} <= beat
    finally:
        migrate(latest())

    from django.contrib.contenttypes.models import ContentType
    from django_celery_beat.models import PeriodicTask

    from accounts.models import LoginEvent, LoginFailure
    from email_app.models import SentEmail
    from messaging.models import Message
    from notifications.models import Notification
    from side_effects.models import OrderSideEffect
    from worker.models import DeadLetter, OutboxMessage

    order, user = ids["order"], ids["user"]
    assert Notification.objects.get(recipient_id=user).message == "Hi"
    assert Message.objects.get(order_id=order).body == "Gift wrap?"
    assert LoginEvent.objects.get(user_id=user).ip == "10.0.0.1"
    assert LoginFailure.objects.get().username == "eve"
    effect = OrderSideEffect.objects.get(order_id=order)
    assert (effect.kind, effect.status, effect.redrives) == ("inventory", "done", 2)
    moved = {(ct.app_label, ct.model) for ct in ContentType.objects.all()}
    assert {("notifications", "notification"), ("messaging", "message")} <= moved
    assert {("accounts", "loginevent"), ("side_effects", "ordersideeffect")} <= moved
    assert not {("core", "notification"), ("store", "ordersideeffect")} & moved
    assert SentEmail.objects.get(key=str(order)).kind == "confirmation_email"
    names = dict(OutboxMessage.objects.values_list("task_name", "published_at"))
    assert names.keys() == {"store.apply_inventory", "analytics_app.record_order_event"}
    assert DeadLetter.objects.get().task_name == "email_app.send_confirmation_email"
    assert PeriodicTask.objects.filter(task="side_effects.reconcile").exists()
    assert not PeriodicTask.objects.filter(task="store.reconcile_side_effects").exists()
