from datetime import timedelta

from celery import shared_task
from django.conf import settings

from worker.tasks_base import ReliableTask

from . import services


@shared_task(base=ReliableTask, name="core.notify_staff_of_duplicate_order")
def notify_staff_of_duplicate_order(order_id: int) -> bool:
    return services.duplicate_order_notify_staff(order_id=int(order_id))


@shared_task(name="core.prune_login_audit")
def prune_login_audit() -> dict[str, int]:
    return services.login_audit_prune(
        older_than=timedelta(days=settings.SHOPFLOW_LOGIN_AUDIT_RETENTION_DAYS)
    )
