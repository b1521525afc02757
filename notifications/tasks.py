from celery import shared_task

from worker.tasks_base import ReliableTask

from . import emails, push, services


@shared_task(base=ReliableTask, name="notifications.notify_duplicate_order")
def notify_duplicate_order(order_id: int) -> bool:
    return services.duplicate_order_notify(order_id=int(order_id))


@shared_task(base=ReliableTask, name="notifications.send_email_digests")
def send_email_digests() -> int:
    return emails.email_digests_send()


@shared_task(base=ReliableTask, name="notifications.send_pushes")
def send_pushes() -> int:
    return push.pushes_send()
