from celery import shared_task

from side_effects.base import SideEffectTask
from worker.tasks_base import JobTask

from .services import emails


@shared_task(
    base=SideEffectTask,
    kind=emails.CONFIRMATION_EMAIL,
    name="email_app.send_confirmation_email",
    # A run's emails go one after another over its thread's SMTP connection: a few a run,
    # so that a slow server's burst spreads over the mail worker's threads.
    batch=4,
)
def send_confirmation_email(key: str) -> bool:
    return emails.confirmation_email_send(order_id=int(key))


@shared_task(
    base=SideEffectTask, kind=emails.CANCELLATION_EMAIL, name="email_app.send_cancellation_email"
)
def send_cancellation_email(key: str) -> bool:
    return emails.cancellation_email_send(order_id=int(key))


@shared_task(base=SideEffectTask, kind=emails.SHIPPING_EMAIL, name="email_app.send_shipping_email")
def send_shipping_email(key: str) -> bool:
    return emails.shipping_email_send(order_id=int(key))


@shared_task(base=JobTask, kind="welcome_email", name="email_app.send_welcome_email")
def send_welcome_email(key: str) -> bool:
    return emails.welcome_send(user_id=int(key))


@shared_task(
    base=JobTask, kind=emails.PASSWORD_RESET_EMAIL, name="email_app.send_password_reset_email"
)
def send_password_reset_email(key: str) -> bool:
    return emails.password_reset_send(key=key)


@shared_task(base=JobTask, kind="low_stock_alert", name="email_app.send_low_stock_alert")
def send_low_stock_alert(key: str) -> bool:
    return emails.low_stock_alert_send(key=key)


@shared_task(
    base=JobTask, kind="duplicate_orders_alert", name="email_app.send_duplicate_orders_alert"
)
def send_duplicate_orders_alert(key: str) -> bool:
    return emails.duplicate_orders_alert_send(alert_id=int(key))
