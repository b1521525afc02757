"""The core app's reactions: the audit trail, and the notifications of what happened.

Notifications are written by receivers only, in the transaction of what they are about,
and pushed live after commit (core.services.notifications_create)."""

import logging

from worker import outbox

from . import services, tasks
from .models import Notification

audit_logger = logging.getLogger("shopflow.audit")


def audit_order_created(sender, order, **kwargs):
    """Synchronous on purpose: one log line, no I/O worth a task."""
    audit_logger.info(
        "order_created order=%s customer=%s total=%s", order.pk, order.customer_id, order.total
    )


def notify_order_placed(sender, order, **kwargs):
    """The customer: "Order #42 confirmed". Inside the checkout's receivers: the row goes
    in with the outbox's INSERT, no statement of its own."""
    services.notifications_create(
        recipient_ids=[order.customer.user_id],
        kind=Notification.Kind.ORDER_PLACED,
        message=f"Order #{order.pk} confirmed: {order.total}",
        link=f"/api/orders/{order.pk}/",
    )


def notify_staff_of_low_stock(sender, product, order_id, available, **kwargs):
    services.notifications_create_for_staff(
        kind=Notification.Kind.LOW_STOCK,
        message=f"Low stock: {product.name} ({product.sku}) has {available} left",
        link=f"/api/products/{product.pk}/",
    )


def notify_staff_of_failed_side_effect(sender, order_id, kind, error, **kwargs):
    services.notifications_create_for_staff(
        kind=Notification.Kind.SIDE_EFFECT_FAILED,
        message=f"Order #{order_id}: {kind} failed for good: {error}",
        link=f"/api/orders/{order_id}/",
    )


def notify_message_recipients(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        services.message_notify_other_side(message=instance)


def queue_duplicate_order_notification(sender, instance, created, raw=False, **kwargs):
    """post_save of an Order flagged duplicate (store.receivers.flag_duplicate_order),
    inside the checkout's transaction: only enqueue (a plain post_save receiver that
    raised would take the order down with it); the task notifies staff."""
    if created and not raw and instance.duplicate_of_id is not None:
        outbox.enqueue(tasks.notify_staff_of_duplicate_order, instance.pk)


# --- Login audit ------------------------------------------------------------------


def audit_login(sender, request, user, **kwargs):
    """user_logged_in: session and admin logins (Django), token logins (core.views)."""
    services.login_record(user=user, request=request)


def audit_login_failure(sender, credentials, request=None, **kwargs):
    """user_login_failed: the username tried, never the password (Django has already
    masked it; it is not read here either). A throttled login path recorded it already."""
    if services.login_attempt_recorded(request):
        return
    services.login_failure_record(username=str(credentials.get("username") or ""), request=request)
