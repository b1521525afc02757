"""Every row lock of webhooks: named querysets for the caller's transaction. An endpoint's
row is taken by staff's changes and by the record of each attempt at it (its failing
since, a 410's disabling), so that these never cross; its deliveries' jobs by its
deletion."""

from django.db.models import QuerySet

from worker.models import Job

from .models import Endpoint


def endpoint_for_update(*, endpoint_id: int) -> QuerySet[Endpoint]:
    return Endpoint.objects.select_for_update().filter(pk=endpoint_id).order_by("pk")


def endpoint_jobs_for_update(*, endpoint_id: int) -> QuerySet[Job]:
    """The jobs of the endpoint's deliveries (their rows only), in id order."""
    jobs = Job.objects.filter(webhook_delivery__endpoint_id=endpoint_id)
    return jobs.select_for_update(of=("self",)).order_by("pk")
