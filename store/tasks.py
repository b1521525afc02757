from datetime import timedelta

from celery import shared_task
from django.conf import settings

from side_effects.base import SideEffectTask

from .services import carts, duplicates, stock


@shared_task(base=SideEffectTask, kind=stock.INVENTORY, atomic=True, name="store.apply_inventory")
def apply_inventory(key: str) -> bool:
    return stock.inventory_apply(order_id=int(key))


@shared_task(base=SideEffectTask, kind=stock.STOCK_RELEASE, atomic=True, name="store.release_stock")
def release_stock(key: str) -> bool:
    return stock.stock_release(order_id=int(key))


@shared_task(name="store.remove_abandoned_carts")
def remove_abandoned_carts() -> int:
    return carts.carts_remove_abandoned(
        older_than=timedelta(days=settings.SHOPFLOW_ABANDONED_CART_DAYS)
    )


# Beat's, every window: a run that fails leaves its orders unnamed, and the next names them.
@shared_task(name="store.alert_duplicate_orders")
def alert_duplicate_orders() -> int | None:
    return duplicates.duplicate_alert_create()
