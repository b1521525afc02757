from celery import shared_task

from store.models import OrderSideEffect
from store.side_effects import OrderSideEffectTask
from worker.tasks_base import ReliableTask

from . import services


@shared_task(
    base=OrderSideEffectTask,
    side_effect=OrderSideEffect.Kind.CONFIRMATION_EMAIL,
    name="email_app.send_order_confirmation",
)
def send_order_confirmation(order_id: int) -> bool:
    return services.order_confirmation_send(order_id=int(order_id))


@shared_task(base=ReliableTask, name="email_app.send_welcome_email")
def send_welcome_email(user_id: int) -> bool:
    return services.welcome_send(user_id=int(user_id))


@shared_task(base=ReliableTask, name="email_app.send_low_stock_alert")
def send_low_stock_alert(product_id: int, order_id: int) -> bool:
    return services.low_stock_alert_send(product_id=int(product_id), order_id=int(order_id))


@shared_task(base=ReliableTask, name="email_app.send_duplicate_order_alert")
def send_duplicate_order_alert(order_id: int) -> bool:
    return services.duplicate_order_alert_send(order_id=int(order_id))
