from worker.outbox import enqueue_on_commit

from . import tasks


def enqueue_confirmation_email(sender, order, **kwargs):
    enqueue_on_commit(tasks.send_confirmation_email, order.pk)


def enqueue_welcome_email(sender, instance, created, raw=False, **kwargs):
    if created and not raw and instance.email:
        enqueue_on_commit(tasks.send_welcome_email, instance.pk)


def enqueue_low_stock_alert(sender, product, order_id, **kwargs):
    enqueue_on_commit(tasks.send_low_stock_alert, product.pk, order_id)


def enqueue_duplicate_order_alert(sender, instance, created, raw=False, **kwargs):
    """post_save of an Order flagged duplicate (store.receivers.flag_duplicate_order)."""
    if created and not raw and instance.duplicate_of_id is not None:
        enqueue_on_commit(tasks.send_duplicate_order_alert, instance.pk)
