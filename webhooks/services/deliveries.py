"""Deliveries made: one per event and subscribed endpoint, in the event's transaction, each
enqueued through the outbox; a test event; a delivery sent again (redeliver); the ended
ones pruned."""

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.clock import db_now
from core.exists_check import ExistsCheck
from core.signals import insert_isolated
from core.telemetry import trace_carrier
from worker.outbox import enqueue_on_commit

from .. import events, selectors
from ..exceptions import EndpointDisabled
from ..models import Delivery, Endpoint
from ..signatures import delivery_id_new

DELIVER = "webhooks.deliver"
# Whether any endpoint is enabled, read again every 10 s at most: a shop without webhooks
# pays no statement an event (docs/webhooks.md, "Events").
any_enabled = ExistsCheck(
    lambda: Endpoint.objects.filter(enabled=True).exists(),
    seconds=10.0,
    on_error=lambda last, exc: True,  # read them: the event's own read tells
)


def event_deliveries_create(*, event_type: str, data: Callable[[], dict]) -> list[Delivery]:
    """In the transaction of what happened: a delivery of the event for each enabled
    endpoint subscribed to `event_type`, its data (`data()`, asked only when there is
    one) fixed now, enqueued once that commits. From a domain signal's receiver: the read
    in a savepoint of its own, the rows isolated (core.signals)."""
    if not any_enabled():
        return []
    with transaction.atomic():
        endpoint_ids = selectors.endpoint_ids_subscribed(event_type=event_type)
    if not endpoint_ids:
        return []
    return _deliveries_create(endpoint_ids=endpoint_ids, event_type=event_type, payload=data())


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
    return delivery


def _deliveries_create(*, endpoint_ids: list[int], event_type: str, payload: dict):
    carrier = trace_carrier()
    rows = [
        Delivery(
            id=delivery_id_new(),
            endpoint_id=endpoint_id,
            event_type=event_type,
            payload=payload,
            trace_context=carrier,
        )
        for endpoint_id in endpoint_ids
    ]
    insert_isolated(rows)
    for row in rows:
        enqueue_on_commit(DELIVER, row.pk)
    return rows


def delivery_redeliver(*, delivery_id: str) -> Delivery:
    """The same event under the same id, now: a pending one is tried at once (its
    schedule goes on), an ended one starts a new round of attempts."""
    delivery = selectors.delivery_get(delivery_id=delivery_id)
    if not delivery.endpoint.enabled:
        raise EndpointDisabled()
    with transaction.atomic():
        delivery_reopen(delivery_id=delivery_id)
        enqueue_on_commit(DELIVER, delivery_id)
    return selectors.delivery_get(delivery_id=delivery_id)


def delivery_reopen(*, delivery_id: str) -> None:
    """Due now; an ended one pending again with its attempts' count back to nought (a
    redeliver, or its dead letter requeued: the caller enqueues it)."""
    rows = Delivery.objects.filter(pk=delivery_id)
    rows.filter(status=Delivery.Status.PENDING).update(next_attempt_at=db_now())
    rows.exclude(status=Delivery.Status.PENDING).update(
        status=Delivery.Status.PENDING, tries=0, next_attempt_at=db_now(), waiting=False
    )


def deliveries_prune(*, batch: int = 1000) -> int:
    """Beat, daily: delivered and failed deliveries whose event is older than
    SHOPFLOW_WEBHOOKS_RETENTION_DAYS, with their attempts (a batch at a time: each delivery
    is loaded to delete its attempts). Returns how many deliveries."""
    cutoff = timezone.now() - timedelta(days=settings.SHOPFLOW_WEBHOOKS_RETENTION_DAYS)
    ended = Delivery.objects.filter(created_at__lt=cutoff).exclude(status=Delivery.Status.PENDING)
    pruned = 0
    while ids := list(ended.order_by("pk").values_list("pk", flat=True)[:batch]):
        Delivery.objects.filter(pk__in=ids).delete()
        pruned += len(ids)
    return pruned
