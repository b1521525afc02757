"""Deliveries do not grow without bound: a delivery is a job, and goes with its attempts
SHOPFLOW_WEBHOOKS_RETENTION_DAYS after it ended (delivered, failed), by the jobs' daily
prune; a pending one stays."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.models import JOB_KIND, Attempt, Delivery, Endpoint
from webhooks.services.deliveries import endpoint_test_send
from webhooks.signatures import secret_new
from worker.tasks import prune_jobs
from worker.tasks_base import job_tasks

pytestmark = pytest.mark.django_db


def test_deliveries_ended_longer_ago_than_the_retention_go_with_their_attempts(settings):
    settings.SHOPFLOW_WEBHOOKS_RETENTION_DAYS = 30
    endpoint = Endpoint.objects.create(url="https://x/", secret=secret_new())
    delivered, failed, pending, recent, just_kept = (
        endpoint_test_send(endpoint_id=endpoint.pk) for _ in range(5)
    )
    for delivery in (delivered, failed, recent):
        Attempt.objects.create(delivery=delivery, status_code=500, error="HTTP 500")
    now = timezone.now()
    ended = {delivered: 31, failed: 31, recent: 1, just_kept: 29.9}
    for delivery, days in ended.items():
        status = "failed" if delivery == failed else "done"
        ended_at = now - timedelta(days=days)
        Delivery.objects.filter(pk=delivery.pk).update(status=status, ended_at=ended_at)

    assert prune_jobs.apply().get() == 2

    kept = set(Delivery.objects.values_list("key", flat=True))
    assert kept == {pending.key, recent.key, just_kept.key}
    assert list(Attempt.objects.values_list("delivery_id", flat=True)) == [recent.pk]
    assert prune_jobs.apply().get() == 0
    assert job_tasks()[JOB_KIND].keep_days == 30
    settings.SHOPFLOW_WEBHOOKS_RETENTION_DAYS = 7
    assert job_tasks()[JOB_KIND].keep_days == 7
