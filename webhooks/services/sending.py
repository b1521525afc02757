"""An attempt at a delivery, woken by a message of webhooks.deliver (docs/webhooks.md, "The
schedule"). A message only wakes a delivery up; what is done is read from the delivery,
under its endpoint's row lock (webhooks.locks): nothing when it ended or is not due; later
when another attempt holds it (its lease); a wait when its endpoint has IN_FLIGHT attempts
going (the first of them to end wakes it); else it is leased, POSTed outside any
transaction, and the attempt recorded with what follows from it in one transaction."""

import json
import logging
import time
import uuid

import urllib3
from django.db import transaction

from core import clock
from core.clock import db_now
from core.deadline import Deadline
from core.public_http import AddressRefused, public_post
from core.signals import isolated_inserts
from core.telemetry import span_continuing
from worker.outbox import enqueue_on_commit, retry_enqueue

from .. import events, locks, metrics, selectors
from ..models import Attempt, Delivery, Endpoint
from ..signatures import signature_header
from .endpoints import endpoint_disable, staff_told

PENDING, DELIVERED, FAILED = Delivery.Status.values
# Attempts at once per endpoint: slow endpoints leave the worker's other threads to the
# rest, and an endpoint answering as usual still takes more than the shop's steady rate.
IN_FLIGHT = 4
# An attempt holds its delivery this long at most: its request's 15 s and then some. A
# worker that died mid-request has its delivery taken up again when it runs out.
LEASE_SECONDS = 30
# The whole request, DNS included, is cut at this (docs/webhooks.md, "The schedule").
REQUEST_SECONDS = 15.0
# Svix's schedule: seconds after a failed attempt to the next; 8 attempts over about 27 h.
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
ATTEMPTS = len(SCHEDULE) + 1
USER_AGENT = "Shopflow-Webhooks/1.0"
# A pending delivery no attempt holds is re-driven once its due time is this far past (or
# more, while its message may still wait in a backlog: deliveries_redrive).
REDRIVE_AFTER_SECONDS = 60

logger = logging.getLogger(__name__)


def delivery_send(*, task, delivery_id: str) -> str:
    """One wake-up of the delivery (see the module); what came of it. `task`: the task
    that sends deliveries, to enqueue its next tries with."""
    claim = _claim(task=task, delivery_id=delivery_id)
    if isinstance(claim, str):
        return claim
    delivery, endpoint = claim
    with span_continuing(f"webhook {delivery.event_type}", [delivery.trace_context]):
        attempt = _post(delivery, endpoint)
    return _record(task=task, delivery=delivery, attempt=attempt)


def _claim(*, task, delivery_id: str) -> tuple[Delivery, Endpoint] | str:
    """The delivery leased, and its endpoint (locked as it was read, `previous_signs`
    annotated); else what came of the wake-up."""
    endpoint_id = Delivery.objects.values_list("endpoint_id", flat=True).get(pk=delivery_id)
    with transaction.atomic():
        endpoint = locks.endpoint_for_update(endpoint_id=endpoint_id).first()
        delivery = selectors.delivery_state(delivery_id=delivery_id)
        if endpoint is None or delivery.status != PENDING:
            return "ended"
        if not endpoint.enabled:
            return _end(delivery, FAILED)
        if not delivery.due:
            return "not due"
        if delivery.leased:
            _wake(task, delivery, countdown=LEASE_SECONDS)
            return "in flight"
        if selectors.deliveries_in_flight(endpoint_id=endpoint_id).count() >= IN_FLIGHT:
            Delivery.objects.filter(pk=delivery.pk).update(waiting=True)
            return "waiting"
        Delivery.objects.filter(pk=delivery.pk).update(
            leased_until=db_now(plus_seconds=LEASE_SECONDS), waiting=False
        )
    return delivery, endpoint


def _post(delivery: Delivery, endpoint: Endpoint) -> Attempt:
    """The attempt, not saved yet: its answer's status, or what went wrong ("" for 2xx)."""
    # The same bytes at every attempt: the event as it was when it happened.
    event = {
        "type": delivery.event_type,
        "timestamp": events.iso(delivery.created_at),
        "data": delivery.payload,
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    timestamp = int(time.time())
    # The current secret signs, and the previous one too while it still does.
    keys = [endpoint.secret, *([endpoint.previous_secret] if endpoint.previous_signs else [])]
    signature = signature_header(keys=keys, msg_id=delivery.pk, timestamp=timestamp, body=body)
    headers = {
        "webhook-id": delivery.pk,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    started, status_code = clock.monotonic(), None
    deadline = Deadline(REQUEST_SECONDS, about=f"the webhook request to endpoint {endpoint.pk}")
    try:
        # Again now, what the name resolves to today, within the request's deadline.
        target = Endpoint.url_target(endpoint.url, deadline=deadline)
        reply = public_post(target, body=body, headers=headers, deadline=deadline)
        status_code = reply.status
        error = "" if 200 <= reply.status < 300 else f"HTTP {reply.status}: {reply.text[:200]}"
    except AddressRefused as refused:
        error = f"refused: {refused}"
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = round((clock.monotonic() - started) * 1000)
    return Attempt(
        delivery_id=delivery.pk, status_code=status_code, duration_ms=duration_ms, error=error[:500]
    )


def _record(*, task, delivery: Delivery, attempt: Attempt) -> str:
    """The attempt and what follows from it, in one transaction (see the module)."""
    with transaction.atomic():
        endpoint = locks.endpoint_for_update(endpoint_id=delivery.endpoint_id).first()
        if endpoint is None:
            return "ended"  # deleted meanwhile, with its deliveries
        attempt.save()
        delivery.tries, ok = delivery.tries + 1, not attempt.error
        # Since when the endpoint's every attempt has failed (5 days of it disable it).
        if ok and endpoint.failing_since is not None:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        elif not ok and endpoint.failing_since is None:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=db_now())
        if ok:
            outcome = _end(delivery, DELIVERED)
        elif attempt.status_code == 410:
            outcome = _end(delivery, FAILED)
            endpoint_disable(endpoint=endpoint, reason="it answered 410 Gone")
        elif delivery.tries >= ATTEMPTS:
            outcome = _end(delivery, FAILED)
            reason = f"{delivery.tries} attempts failed, the last: {attempt.error}"
            staff_told(endpoint=endpoint, delivery_id=delivery.pk, reason=reason)
        else:
            outcome = _retry_later(task, delivery)
        _wake_next(task, endpoint_id=endpoint.pk)
        metrics.attempt_observe_on_commit(endpoint_id=endpoint.pk, ms=attempt.duration_ms)
    return outcome


def _end(delivery: Delivery, status: str) -> str:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=status, tries=delivery.tries, next_attempt_at=None, leased_until=None, waiting=False
    )
    metrics.ended_count_on_commit(endpoint_id=delivery.endpoint_id, status=status)
    return status


def _retry_later(task, delivery: Delivery) -> str:
    countdown = SCHEDULE[delivery.tries - 1]
    # Due no later than its message: both are the database's now plus the countdown.
    Delivery.objects.filter(pk=delivery.pk).update(
        tries=delivery.tries, next_attempt_at=db_now(plus_seconds=countdown), leased_until=None
    )
    _wake(task, delivery, countdown=countdown)
    return "retry"


def _wake(task, delivery: Delivery, *, countdown: float) -> None:
    """A message of `task` for the delivery, due in `countdown` seconds (an outbox row)."""
    retry_enqueue(
        task,
        task_id=str(uuid.uuid4()),
        args=[delivery.pk],
        kwargs={},
        retries=delivery.tries,
        countdown=countdown,
    )


def _wake_next(task, *, endpoint_id: int) -> None:
    """A slot is free: the endpoint's delivery that has waited longest goes next."""
    waiting = Delivery.objects.filter(endpoint_id=endpoint_id, waiting=True).order_by("pk").first()
    if waiting is not None:
        # Due now, as its message is: the re-drive measures from it (deliveries_redrive).
        Delivery.objects.filter(pk=waiting.pk).update(waiting=False, next_attempt_at=db_now())
        _wake(task, waiting, countdown=0)


def delivery_fail(*, task, delivery_id, error: str) -> None:
    """Its task failed for good (a bug, or a message whose worker died every time), in the
    dead letter's transaction: failed, staff told, its endpoint's next delivery woken."""
    delivery = Delivery.objects.filter(pk=str(delivery_id)).first()
    if delivery is None:
        return
    endpoint = locks.endpoint_for_update(endpoint_id=delivery.endpoint_id).first()
    delivery.refresh_from_db()
    if endpoint is None or delivery.status != PENDING:
        return
    _end(delivery, FAILED)
    staff_told(endpoint=endpoint, delivery_id=delivery.pk, reason=error)
    _wake_next(task, endpoint_id=endpoint.pk)


def deliveries_redrive(*, task, limit: int = 500) -> int:
    """Beat: a message of `task` again, through the outbox, due now, for each pending
    delivery that no attempt holds or will wake, REDRIVE_AFTER_SECONDS past its due time or
    longer (docs/webhooks.md, "The schedule"). The slots are the claim's to count, under
    the endpoint's lock, so none is taken here. Returns how many."""
    on_its_way = selectors.delivery_message_on_its_way_seconds(task_name=task.name)
    if on_its_way is None:
        return 0
    past_due = max(REDRIVE_AFTER_SECONDS, on_its_way)
    with transaction.atomic():
        lost = list(locks.deliveries_lost_skip_locked(past_due_seconds=past_due, limit=limit))
        Delivery.objects.filter(pk__in=lost).update(waiting=False, next_attempt_at=db_now())
        with isolated_inserts(about="the webhooks' re-drives"):  # one INSERT for all
            for delivery_id in lost:
                enqueue_on_commit(task, delivery_id)
    if lost:
        logger.warning("webhooks: %s delivery(ies) re-driven, from %s", len(lost), lost[0])
    return len(lost)
