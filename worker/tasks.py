from celery import shared_task

from . import outbox


@shared_task(name="worker.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    """Publish outbox rows the after-commit publisher could not (broker down)."""
    return outbox.relay()


@shared_task(name="worker.prune_outbox")
def prune_outbox() -> int:
    return outbox.prune()
