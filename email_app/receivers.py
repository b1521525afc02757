from worker.outbox import enqueue

from . import tasks


def queue_order_confirmation(sender, order, **kwargs):
    enqueue(tasks.send_order_confirmation, order.pk)


def queue_welcome_email(sender, instance, created, raw=False, **kwargs):
    if created and not raw and instance.email:
        enqueue(tasks.send_welcome_email, instance.pk)


def queue_low_stock_alert(sender, product, order_id, **kwargs):
    enqueue(tasks.send_low_stock_alert, product.pk, order_id)


def queue_duplicate_order_alert(sender, instance, created, raw=False, **kwargs):
    """post_save of an Order flagged duplicate (store.receivers.flag_duplicate_order)."""
    if created and not raw and instance.duplicate_of_id is not None:
        enqueue(tasks.send_duplicate_order_alert, instance.pk)
