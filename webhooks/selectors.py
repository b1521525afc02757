"""Reads of webhooks: endpoints, and their deliveries with where each stands (its job's
state, worker.jobs) and its attempts."""

from django.db.models import Case, OuterRef, QuerySet, Subquery, Value, When

from worker.models import Job

from .exceptions import DeliveryNotFound, EndpointNotFound
from .models import JOB_KIND, Delivery, Endpoint

Status = Delivery.Status


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


def delivery_jobs(delivery_id) -> QuerySet[Job]:
    """The job of the delivery (`delivery_id` may be an OuterRef): one, or none."""
    return Job.objects.filter(kind=JOB_KIND, key=delivery_id)


def deliveries_with_state(rows: QuerySet[Delivery]) -> QuerySet[Delivery]:
    """`rows` with `status` (its job's: done is "delivered"; no job, "pending") and
    `next_attempt_at` (its job's due time while pending)."""
    job = delivery_jobs(OuterRef("pk"))
    return rows.annotate(
        job_status=Subquery(job.values("status")[:1]),
        status=Case(
            When(job_status=Job.Status.DONE, then=Value(Status.DELIVERED)),
            When(job_status=Job.Status.FAILED, then=Value(Status.FAILED)),
            default=Value(Status.PENDING),
        ),
        next_attempt_at=Subquery(job.filter(status=Job.Status.PENDING).values("due_at")[:1]),
    )


def delivery_list(*, endpoint_id: int, status: str | None = None) -> QuerySet[Delivery]:
    """An endpoint's deliveries, newest first, each with its state and its attempts,
    oldest first."""
    endpoint_get(endpoint_id=endpoint_id)
    rows = deliveries_with_state(Delivery.objects.filter(endpoint_id=endpoint_id))
    if status:
        rows = rows.filter(status=status)
    return rows.defer("payload").prefetch_related("attempts")


def delivery_get(*, delivery_id: str) -> Delivery:
    rows = deliveries_with_state(Delivery.objects.select_related("endpoint"))
    try:
        return rows.get(pk=delivery_id)
    except Delivery.DoesNotExist:
        raise DeliveryNotFound() from None
