from celery import shared_task

from . import services


@shared_task(name="side_effects.reconcile")
def reconcile() -> dict[str, int]:
    return services.side_effects_reconcile()
