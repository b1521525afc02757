from celery import shared_task

from worker.tasks_base import ReliableTask

from . import emails, push


@shared_task(base=ReliableTask, name="notifications.send_email_digests")
def send_email_digests() -> int:
    return emails.email_digests_send()


# Woken by an outbox row per commit that notifies someone (push.pushes_wake_up), whose
# recipients the relay joins into one message when the shop is busy; every run sends all
# that is due, theirs and any retry's. Beat runs it too, with none.
@shared_task(base=ReliableTask, name="notifications.send_pushes", batch_max=500)
def send_pushes(recipient_ids: list[int] | None = None) -> int:
    return push.pushes_send()
