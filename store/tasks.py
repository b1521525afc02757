from datetime import timedelta

from celery import shared_task
from django.conf import settings

from . import services
from .models import OrderSideEffect
from .side_effects import OrderSideEffectTask


@shared_task(
    base=OrderSideEffectTask,
    side_effect=OrderSideEffect.Kind.INVENTORY,
    name="store.apply_order_inventory",
)
def apply_order_inventory(order_id: int) -> bool:
    return services.inventory_apply_order(order_id=int(order_id))


@shared_task(name="store.remove_abandoned_carts")
def remove_abandoned_carts() -> int:
    return services.carts_remove_abandoned(
        older_than=timedelta(days=settings.SHOPFLOW_ABANDONED_CART_DAYS)
    )


@shared_task(name="store.reconcile_side_effects")
def reconcile_side_effects() -> dict[str, int]:
    return services.side_effects_reconcile()
