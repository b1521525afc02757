from worker.outbox import enqueue

from . import tasks


def queue_order_event(sender, order, **kwargs):
    enqueue(tasks.record_order_event, order.pk)
