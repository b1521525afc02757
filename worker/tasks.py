from celery import shared_task

from . import outbox


@shared_task(name="worker.prune_outbox")
def prune_outbox() -> int:
    return outbox.outbox_prune()
