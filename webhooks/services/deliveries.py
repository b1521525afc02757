"""Deliveries made: one per event and subscribed endpoint, in the event's transaction, each
with its job (worker.jobs); a test event; a delivery sent again (redeliver); the ended ones
pruned."""

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.exists_check import ExistsCheck
from core.signals import insert_isolated
from worker.jobs import enqueue_on_commit, jobs_due_now, jobs_redrive
from worker.models import Job

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


def event_deliveries_create(*, event_type: str, data: Callable[[], dict]) -> list[Delivery]:
    """In the transaction of what happened: a delivery of the event for each enabled
    endpoint subscribed to `event_type`, its data (`data()`, asked only when there is
    one) fixed now, and its job. From a domain signal's receiver: the read in a savepoint
    of its own, the rows isolated (core.signals)."""
    if not any_enabled():
        return []
    with transaction.atomic():  # the data's reads too, when it has any
        endpoint_ids = selectors.endpoint_ids_subscribed(event_type=event_type)
        payload = data() if endpoint_ids else None
    if not endpoint_ids:
        return []
    return _deliveries_create(endpoint_ids=endpoint_ids, event_type=event_type, payload=payload)


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
    return selectors.delivery_get(delivery_id=delivery.pk)


def _deliveries_create(*, endpoint_ids: list[int], event_type: str, payload: dict):
    fixed = {"event_type": event_type, "payload": payload}
    rows = [Delivery(id=delivery_id_new(), endpoint_id=pk, **fixed) for pk in endpoint_ids]
    insert_isolated(rows)
    for row in rows:  # one INSERT for all in a receiver's isolated block
        enqueue_on_commit(JOB_KIND, row.pk, concurrency_key=str(row.endpoint_id))
    return rows


def delivery_redeliver(*, delivery_id: str) -> Delivery:
    """The same event under the same id, now: an ended one starts a new round of attempts,
    a pending one is tried at once (its schedule goes on), one with no job gets one."""
    delivery = selectors.delivery_get(delivery_id=delivery_id)
    if not delivery.endpoint.enabled:
        raise EndpointDisabled()
    with transaction.atomic():
        enqueue_on_commit(JOB_KIND, delivery_id, concurrency_key=str(delivery.endpoint_id))
        jobs = selectors.delivery_jobs(delivery_id)
        jobs_redrive(jobs=jobs, done_too=True)
        jobs_due_now(jobs=jobs)  # a pending one no attempt holds: at once
    return selectors.delivery_get(delivery_id=delivery_id)


def deliveries_prune(*, batch: int = 1000) -> int:
    """Beat, daily: deliveries whose event is older than SHOPFLOW_WEBHOOKS_RETENTION_DAYS
    and whose job is not pending, with their attempts (a batch at a time: each delivery is
    loaded to delete its attempts). Their jobs go by their kind's keep_days, the same
    (webhooks.tasks). Returns how many deliveries."""
    cutoff = timezone.now() - timedelta(days=settings.SHOPFLOW_WEBHOOKS_RETENTION_DAYS)
    pending = selectors.delivery_jobs(OuterRef("pk")).filter(status=Job.Status.PENDING)
    ended = Delivery.objects.filter(created_at__lt=cutoff).exclude(Exists(pending))
    pruned = 0
    while ids := list(ended.order_by("pk").values_list("pk", flat=True)[:batch]):
        Delivery.objects.filter(pk__in=ids).delete()
        pruned += len(ids)
    return pruned
