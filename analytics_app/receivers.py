from worker.jobs import enqueue_on_commit

from . import tasks


def record_cancellation(sender, order, **kwargs):
    """order_cancelled, in its transaction: the day's figures take the order back."""
    enqueue_on_commit(tasks.record_cancellation, order.pk)
