from datetime import timedelta

from celery import shared_task
from django.conf import settings

from side_effects.base import SideEffectTask
from worker.tasks_base import ReliableTask

from .services import carts, duplicates, stock


@shared_task(
    base=SideEffectTask,
    side_effect=stock.INVENTORY,
    name="store.apply_inventory",
)
def apply_inventory(order_id: int) -> bool:
    return stock.inventory_apply(order_id=order_id)


@shared_task(name="store.remove_abandoned_carts")
def remove_abandoned_carts() -> int:
    return carts.carts_remove_abandoned(
        older_than=timedelta(days=settings.SHOPFLOW_ABANDONED_CART_DAYS)
    )


@shared_task(base=ReliableTask, name="store.alert_duplicate_orders")
def alert_duplicate_orders() -> int | None:
    return duplicates.duplicate_alert_create()
