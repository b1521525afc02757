from worker.outbox import enqueue

from . import services


def create_customer_for_new_user(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        services.customer_create(user=instance)


def queue_inventory_update(sender, order, **kwargs):
    from .tasks import apply_order_inventory

    enqueue(apply_order_inventory, order.pk)
