from celery import shared_task
from django.conf import settings

from worker.tasks_base import JobTask

from .models import JOB_KIND
from .services import sending


class DeliveryTask(JobTask):
    """A delivery is a job (worker.jobs) keyed by its id, its endpoint's id the concurrency
    key: IN_FLIGHT requests at once per endpoint, Svix's schedule, 8 attempts; each
    attempt's record written with its end (webhooks.services.sending)."""

    kind = JOB_KIND
    concurrency = sending.IN_FLIGHT
    max_attempts = sending.ATTEMPTS

    @property
    def keep_days(self) -> int:
        return settings.SHOPFLOW_WEBHOOKS_RETENTION_DAYS  # the deliveries, with their attempts

    def retry_wait(self, *, attempts: int, error: BaseException) -> float:
        return sending.retry_wait(attempts=attempts, error=error)

    def attempt_ended(self, *, job, outcome: str, result, error) -> None:
        sending.attempt_record(job=job, outcome=outcome, result=result, error=error)


# Woken by the dispatcher while deliveries are due; one a run, on the webhooks queue's threads.
@shared_task(base=DeliveryTask, name="webhooks.deliver")
def deliver(key: str):
    return sending.delivery_send(delivery_id=key)
