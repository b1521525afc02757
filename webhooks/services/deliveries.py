"""Deliveries made: one job (worker.jobs) per event and subscribed endpoint, in the
event's transaction; a test event; a delivery sent again (redeliver)."""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from core.exists_check import ExistsCheck
from worker.jobs import enqueue_on_commit, jobs_due_now, jobs_redrive

from .. import events, selectors
from ..exceptions import EndpointDisabled
from ..models import JOB_KIND, Delivery, Endpoint
from ..signatures import delivery_id_new

# Whether any endpoint is enabled, read again every 10 s at most: a shop without webhooks
# pays no statement an event (docs/webhooks.md, "Events").
any_enabled = ExistsCheck(
    lambda: Endpoint.objects.filter(enabled=True).exists(),
    seconds=10.0,
    on_error=lambda last, exc: True,  # read them: the event's own read tells
)


def event_deliveries_create(*, event_type: str, data: Callable[[], dict]) -> None:
    """In the transaction of what happened: a delivery of the event for each enabled
    endpoint subscribed to `event_type`, its data (`data()`, asked only when there is
    one) fixed now. From a domain signal's receiver: the read in a savepoint
    of its own, the rows isolated (core.signals)."""
    if not any_enabled():
        return
    with transaction.atomic():  # the data's reads too, when it has any
        endpoint_ids = selectors.endpoint_ids_subscribed(event_type=event_type)
        payload = data() if endpoint_ids else None
    if endpoint_ids:
        _deliveries_create(endpoint_ids=endpoint_ids, event_type=event_type, payload=payload)


def endpoint_test_send(*, endpoint_id: int) -> Delivery:
    """A `webhook.test` event to this endpoint alone."""
    endpoint = selectors.endpoint_get(endpoint_id=endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled()
    with transaction.atomic():
        [delivery] = _deliveries_create(
            endpoint_ids=[endpoint.pk],
            event_type=events.TEST,
            payload={"endpoint_id": endpoint.pk, "message": "A test event from Shopflow."},
        )
    return selectors.delivery_get(delivery_id=delivery.key)


def _deliveries_create(*, endpoint_ids: list[int], event_type: str, payload: dict):
    # The same bytes at every attempt: the event's body as it was when it happened.
    body = {"type": event_type, "timestamp": events.iso(timezone.now()), "data": payload}
    return [
        enqueue_on_commit(JOB_KIND, delivery_id_new(), concurrency_key=str(pk), payload=body)
        for pk in endpoint_ids
    ]


def delivery_redeliver(*, delivery_id: str) -> Delivery:
    """The same event under the same id, now: an ended one starts a new round of attempts,
    a pending one is tried at once (its schedule goes on)."""
    delivery = selectors.delivery_get(delivery_id=delivery_id)
    if not selectors.endpoint_get(endpoint_id=delivery.endpoint_id).enabled:
        raise EndpointDisabled()
    with transaction.atomic():
        jobs = Delivery.objects.filter(pk=delivery.pk)
        jobs_redrive(jobs=jobs, done_too=True)
        jobs_due_now(jobs=jobs)  # a pending one no attempt holds: at once
    return selectors.delivery_get(delivery_id=delivery_id)
