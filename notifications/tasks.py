from celery import shared_task

from worker.tasks_base import ReliableTask

from . import emails, push


@shared_task(base=ReliableTask, name="notifications.send_email_digests")
def send_email_digests() -> int:
    return emails.email_digests_send()


@shared_task(base=ReliableTask, name="notifications.send_pushes")
def send_pushes() -> int:
    return push.pushes_send()
