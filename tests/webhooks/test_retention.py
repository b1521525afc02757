"""Deliveries do not grow without bound: those whose job ended (delivered, failed), with
their attempts, are pruned daily once their event is older than
SHOPFLOW_WEBHOOKS_RETENTION_DAYS; their jobs go after as long (the kind's keep_days)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.models import JOB_KIND, Attempt, Delivery, Endpoint
from webhooks.services.deliveries import endpoint_test_send
from webhooks.signatures import secret_new
from webhooks.tasks import prune_deliveries
from worker.models import Job
from worker.tasks_base import job_tasks

pytestmark = pytest.mark.django_db


def test_ended_deliveries_older_than_the_retention_go_with_their_attempts(settings):
    settings.SHOPFLOW_WEBHOOKS_RETENTION_DAYS = 30
    endpoint = Endpoint.objects.create(url="https://x/", secret=secret_new())
    delivered, failed, pending, recent, just_kept = (
        endpoint_test_send(endpoint_id=endpoint.pk).pk for _ in range(5)
    )
    for delivery_id in (delivered, failed, recent):
        Attempt.objects.create(delivery_id=delivery_id, status_code=500, error="HTTP 500")
    jobs = Job.objects.filter(kind=JOB_KIND)
    jobs.filter(key__in=[delivered, recent, just_kept]).update(status="done")
    jobs.filter(key=failed).update(status="failed")
    now = timezone.now()
    Delivery.objects.exclude(pk__in=[recent, just_kept]).update(created_at=now - timedelta(31))
    Delivery.objects.filter(pk=just_kept).update(created_at=now - timedelta(days=29, hours=23))

    assert prune_deliveries.apply().get() == 2

    assert set(Delivery.objects.values_list("pk", flat=True)) == {pending, recent, just_kept}
    assert list(Attempt.objects.values_list("delivery_id", flat=True)) == [recent]
    assert prune_deliveries.apply().get() == 0
    assert job_tasks()[JOB_KIND].keep_days == 30  # the jobs: as long after they ended
    settings.SHOPFLOW_WEBHOOKS_RETENTION_DAYS = 7
    assert job_tasks()[JOB_KIND].keep_days == 7
