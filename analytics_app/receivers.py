from worker.jobs import enqueue_on_commit

from . import tasks


def enqueue_analytics(sender, order, **kwargs):
    enqueue_on_commit(tasks.record_analytics, order.pk)
