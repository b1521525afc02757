import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from . import services
from .models import Order, OrderSideEffect
from .side_effects import OrderSideEffectTask

logger = logging.getLogger(__name__)


@shared_task(
    base=OrderSideEffectTask,
    side_effect=OrderSideEffect.Kind.INVENTORY,
    name="store.apply_order_inventory",
)
def apply_order_inventory(order_id: int) -> bool:
    try:
        return services.inventory_apply_order(order_id=int(order_id))
    except Order.DoesNotExist:
        logger.warning("apply_order_inventory: order %s does not exist, nothing to do", order_id)
        return False


@shared_task(name="store.remove_abandoned_carts")
def remove_abandoned_carts() -> int:
    return services.carts_remove_abandoned(
        older_than=timedelta(days=settings.SHOPFLOW_ABANDONED_CART_DAYS)
    )
