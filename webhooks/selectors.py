"""Reads of webhooks: endpoints, their deliveries with their attempts, a delivery's state,
how long a delivery's message may still be on its way."""

from django.db.models import Q, QuerySet

from core.clock import db_now
from worker.queues import queue_backlogs, queue_of

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


def delivery_list(*, endpoint_id: int, status: str | None = None) -> QuerySet[Delivery]:
    """An endpoint's deliveries, newest first, each with its attempts, oldest first."""
    endpoint_get(endpoint_id=endpoint_id)
    rows = Delivery.objects.filter(endpoint_id=endpoint_id)
    if status:
        rows = rows.filter(status=status)
    return rows.defer("payload", "trace_context").prefetch_related("attempts")


def delivery_get(*, delivery_id: str) -> Delivery:
    try:
        return Delivery.objects.select_related("endpoint").get(pk=delivery_id)
    except Delivery.DoesNotExist:
        raise DeliveryNotFound() from None


def delivery_state(*, delivery_id: str) -> Delivery:
    """The delivery with `due` and `leased`, by the database's clock."""
    now = db_now()
    return Delivery.objects.annotate(
        due=Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        leased=Q(leased_until__gt=now),
    ).get(pk=delivery_id)


def deliveries_in_flight(*, endpoint_id) -> QuerySet[Delivery]:
    """The endpoint's deliveries an attempt holds now (a lease that ran out holds none);
    `endpoint_id` may be an OuterRef."""
    return Delivery.objects.filter(endpoint_id=endpoint_id, leased_until__gt=db_now())


def delivery_message_on_its_way_seconds(*, task_name: str) -> float | None:
    """How long after its due time a delivery's message (of `task_name`) may still wait in
    its queue (first in, first out): the age of the oldest message ready there plus how late
    the relay published; None when that cannot be told (the relay is behind, the broker
    does not answer, a message without its stamp). As side effects' reconciler reasons
    (side_effects.selectors.side_effect_redrive_margins)."""
    queue = queue_of(task_name=task_name)
    backlogs = queue_backlogs(names={queue}, who="webhooks")
    age = backlogs.ages[queue] if backlogs else None
    return None if age is None else age + backlogs.lateness
