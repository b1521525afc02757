"""Deliveries do not grow without bound: each goes with its job (webhooks.models.
Delivery.job), so the engine's prune of ended jobs (worker.prune_jobs, the kind's
keep_days: SHOPFLOW_WEBHOOKS_RETENTION_DAYS) takes the delivered and failed ones, with
their attempts; pending ones stay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.models import JOB_KIND, Attempt, Delivery, Endpoint
from webhooks.services.deliveries import endpoint_test_send
from webhooks.signatures import secret_new
from worker.models import Job
from worker.tasks import prune_jobs
from worker.tasks_base import job_tasks

pytestmark = pytest.mark.django_db


def test_ended_deliveries_older_than_the_retention_go_with_their_jobs_and_attempts(settings):
    settings.SHOPFLOW_WEBHOOKS_RETENTION_DAYS = 30
    endpoint = Endpoint.objects.create(url="https://x/", secret=secret_new())
    delivered, failed, pending, recent, just_kept = (
        endpoint_test_send(endpoint_id=endpoint.pk).pk for _ in range(5)
    )
    for delivery_id in (delivered, failed, pending, recent):
        Attempt.objects.create(delivery_id=delivery_id, status_code=500, error="HTTP 500")
    jobs, now = Job.objects.filter(kind=JOB_KIND), timezone.now()
    jobs.filter(key__in=[delivered, just_kept]).update(status="done")
    jobs.filter(key=failed).update(status="failed")
    jobs.filter(key__in=[delivered, failed]).update(ended_at=now - timedelta(days=31))
    jobs.filter(key=just_kept).update(ended_at=now - timedelta(days=29, hours=23))
    jobs.filter(key=recent).update(status="done", ended_at=now)
    Delivery.objects.update(created_at=now - timedelta(days=60))  # the event's age: no matter

    assert prune_jobs.apply().get() == 2

    assert set(Delivery.objects.values_list("pk", flat=True)) == {pending, recent, just_kept}
    assert set(jobs.values_list("key", flat=True)) == {pending, recent, just_kept}
    assert set(Attempt.objects.values_list("delivery_id", flat=True)) == {pending, recent}
    assert prune_jobs.apply().get() == 0
    settings.SHOPFLOW_WEBHOOKS_RETENTION_DAYS = 7
    assert job_tasks()[JOB_KIND].keep_days == 7
