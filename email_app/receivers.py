from worker.jobs import enqueue_on_commit

from . import tasks


def enqueue_welcome_email(sender, instance, created, raw=False, **kwargs):
    if created and not raw and instance.email:
        enqueue_on_commit(tasks.send_welcome_email, instance.pk)


def enqueue_password_reset_email(sender, instance, created, raw=False, **kwargs):
    """post_save of accounts' PasswordResetRequest: the email with the reset link, once
    per request."""
    if created and not raw:
        enqueue_on_commit(tasks.send_password_reset_email, f"{instance.user_id}:{instance.pk}")


def enqueue_low_stock_alert(sender, product, order_id, **kwargs):
    enqueue_on_commit(tasks.send_low_stock_alert, f"{product.pk}:{order_id}")


def enqueue_duplicate_orders_alert(sender, alert, **kwargs):
    """duplicate_orders_alerted, inside the transaction that marked the orders."""
    enqueue_on_commit(tasks.send_duplicate_orders_alert, alert.pk)
