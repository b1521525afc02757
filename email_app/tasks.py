import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from store.models import Order, OrderSideEffect, Product
from store.side_effects import OrderSideEffectTask
from worker.tasks_base import ReliableTask

from . import services

logger = logging.getLogger(__name__)


@shared_task(
    base=OrderSideEffectTask,
    side_effect=OrderSideEffect.Kind.CONFIRMATION_EMAIL,
    name="email_app.send_order_confirmation",
)
def send_order_confirmation(order_id: int) -> bool:
    try:
        return services.order_confirmation_send(order_id=int(order_id))
    except Order.DoesNotExist:
        logger.warning("send_order_confirmation: order %s does not exist, nothing sent", order_id)
        return False


@shared_task(base=ReliableTask, name="email_app.send_welcome_email")
def send_welcome_email(user_id: int) -> bool:
    try:
        return services.welcome_send(user_id=int(user_id))
    except get_user_model().DoesNotExist:
        logger.warning("send_welcome_email: user %s does not exist, nothing sent", user_id)
        return False


@shared_task(base=ReliableTask, name="email_app.send_low_stock_alert")
def send_low_stock_alert(product_id: int, order_id: int) -> bool:
    try:
        return services.low_stock_alert_send(product_id=int(product_id), order_id=int(order_id))
    except Product.DoesNotExist:
        logger.warning("send_low_stock_alert: product %s does not exist, nothing sent", product_id)
        return False
