from celery import shared_task

from . import outbox


@shared_task(name="worker.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    """A relay pass from beat: the safety net should the relay service be down."""
    return outbox.relay()


@shared_task(name="worker.prune_outbox")
def prune_outbox() -> int:
    return outbox.prune()
