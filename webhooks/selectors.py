"""Reads of webhooks: endpoints, and their deliveries (jobs, worker.jobs) with their
attempts."""

from django.db.models import QuerySet

from worker.models import Job

from .exceptions import DeliveryNotFound, EndpointNotFound
from .models import Delivery, Endpoint


def endpoint_get(*, endpoint_id: int) -> Endpoint:
    try:
        return Endpoint.objects.get(pk=endpoint_id)
    except Endpoint.DoesNotExist:
        raise EndpointNotFound() from None


def endpoint_ids_subscribed(*, event_type: str) -> list[int]:
    """The enabled endpoints subscribed to `event_type` (a handful of rows: the events
    list is read here rather than queried, which SQLite's JSON cannot)."""
    rows = Endpoint.objects.filter(enabled=True).values_list("pk", "events")
    return [pk for pk, events in rows if event_type in events]


def endpoint_deliveries(*, endpoint_id: int) -> QuerySet[Delivery]:
    return Delivery.objects.filter(concurrency_key=str(endpoint_id))


def delivery_list(*, endpoint_id: int, status: str | None = None) -> QuerySet[Delivery]:
    """An endpoint's deliveries, newest first, each with its attempts, oldest first;
    `status` as the API words it."""
    endpoint_get(endpoint_id=endpoint_id)
    rows = endpoint_deliveries(endpoint_id=endpoint_id)
    if status:
        job_status = Job.Status.DONE if status == Delivery.Status.DELIVERED else status
        rows = rows.filter(status=job_status)
    return rows.order_by("-id").prefetch_related("attempt_records")


def delivery_get(*, delivery_id: str) -> Delivery:
    try:
        return Delivery.objects.prefetch_related("attempt_records").get(key=delivery_id)
    except Delivery.DoesNotExist:
        raise DeliveryNotFound() from None
