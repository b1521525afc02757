"""The notifications of what happened. Each receiver calls one service; those of the
domain signals run inside their sender's transaction (core.signals), the rows isolated."""

from .services import inbox
from .services.push_subscriptions import push_subscriptions_end_for_session


def notify_order_placed(sender, order, **kwargs):
    inbox.order_placed_notify(order=order)


def notify_order_cancelled(sender, order, **kwargs):
    inbox.order_cancelled_notify(order=order)


def notify_order_fulfilled(sender, order, **kwargs):
    inbox.order_fulfilled_notify(order=order)


def notify_low_stock(sender, product, order_id, available, **kwargs):
    inbox.low_stock_notify(product=product, available=available)


def notify_side_effect_failed(sender, order_id, kind, error, **kwargs):
    inbox.side_effect_failed_notify(order_id=order_id, kind=kind, error=error)


def notify_webhook_failed(sender, endpoint_id, url, delivery_id, reason, **kwargs):
    inbox.webhook_failed_notify(
        endpoint_id=endpoint_id, url=url, delivery_id=delivery_id, reason=reason
    )


def notify_message_recipients(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        inbox.message_notify(message=instance)


def notify_new_device_login(sender, user, event, **kwargs):
    inbox.new_device_login_notify(user=user, event=event)


READ_RECEIPT_FIELDS = ("order_id", "message_ids", "author_ids", "reader_id", "read_at")


def push_read_receipt(sender, **receipt):
    """message_read, sent once the marking committed."""
    inbox.read_receipt_push(**{key: receipt[key] for key in READ_RECEIPT_FIELDS})


def end_push_subscriptions_of_session(sender, request, user, **kwargs):
    """user_logged_out, sent before the session is flushed."""
    push_subscriptions_end_for_session(user=user, session_key=request.session.session_key)


def notify_duplicate_orders(sender, alert, **kwargs):
    """duplicate_orders_alerted, inside the transaction that marked the orders."""
    inbox.duplicate_orders_notify(alert_id=alert.pk)
