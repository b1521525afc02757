from celery import shared_task

from worker.tasks_base import JobTask

from . import digests, emails, push


# Named as the beat-run task it replaces: CELERY_TASK_ROUTES sends it to the `emails`
# queue, beside the other email (SMTP may be slow). A run sends up to `batch` digests.
@shared_task(
    base=JobTask,
    kind=digests.DIGEST_KIND,
    name="notifications.send_email_digests",
    batch=4,
    concurrency=1,  # a person's digests one at a time (their concurrency key)
)
def send_email_digests(key: str) -> bool:
    return emails.email_digest_send(key=key)


# On the `default` queue (no route): a push service answers at once or not at all.
@shared_task(base=JobTask, kind=push.PUSH_KIND, name="notifications.send_push", batch=10)
def send_push(key: str) -> bool:
    notification_id, subscription_id = (int(part) for part in key.split(":"))
    return push.push_send(notification_id=notification_id, subscription_id=subscription_id)
