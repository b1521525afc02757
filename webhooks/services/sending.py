"""An attempt at a delivery, a job (webhooks.tasks.deliver; worker.jobs claims, leases,
caps and retries it): the request with no transaction open, under one deadline; its record
written with the attempt's end, by the attempt that holds the lease (attempt_record)."""

import json
import time

import urllib3
from django.db.models import Q

from core import clock
from core.clock import db_now
from core.deadline import Deadline
from core.public_http import AddressRefused, public_post
from worker.tasks_base import TransientError

from .. import locks
from ..exceptions import EndpointDisabled
from ..models import Attempt, Delivery, Endpoint
from ..signatures import signature_header
from .endpoints import endpoint_disable, staff_told

# Attempts at once per endpoint: slow endpoints leave the worker's other threads to the
# rest, and an endpoint answering as usual still takes more than the shop's steady rate.
IN_FLIGHT = 4
# The whole request, DNS included, is cut at this (docs/webhooks.md, "The schedule").
REQUEST_SECONDS = 15.0
# Svix's schedule: seconds after a failed attempt to the next; 8 attempts over about 27 h.
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
ATTEMPTS = len(SCHEDULE) + 1
# A receiver that says it is busy (429, 503) waits this long at least; its Retry-After is
# honoured up to twice the scheduled wait.
BUSY, BUSY_WAIT_SECONDS = {429, 503}, 60
# An endpoint whose attempts have all failed this long is disabled at its next failure.
FAILING_DISABLE_SECONDS = 5 * 24 * 3600
USER_AGENT = "Shopflow-Webhooks/1.0"


class AttemptFailed(TransientError):
    """Not delivered (another status, a timeout, an address refused): tried again."""

    def __init__(self, attempt: Attempt, *, retry_after: float = 0):
        super().__init__(attempt.error, retry_after=retry_after)
        self.attempt = attempt


class EndpointGone(Exception):
    """410 Gone: not tried again; its endpoint disabled."""

    def __init__(self, attempt: Attempt):
        super().__init__(attempt.error)
        self.attempt = attempt


def delivery_send(*, delivery_id: str) -> Attempt:
    """One attempt (the attempt, not saved yet, when delivered); AttemptFailed or
    EndpointGone when not; EndpointDisabled, with no request, when its endpoint is."""
    delivery = Delivery.objects.get(key=delivery_id)
    # With whether its previous secret still signs (the database's clock). DoesNotExist:
    # deleted, nothing to do.
    previous_signs = Q(previous_secret_until__gt=db_now())
    endpoint = Endpoint.objects.annotate(previous_signs=previous_signs).get(pk=delivery.endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled(EndpointDisabled.detail)
    attempt, retry_after = _post(delivery, endpoint)  # in its job's span, of the event's trace
    if not attempt.error:
        return attempt
    if attempt.status_code == 410:
        raise EndpointGone(attempt)
    raise AttemptFailed(attempt, retry_after=retry_after)


def _post(delivery: Delivery, endpoint: Endpoint) -> tuple[Attempt, float]:
    """The attempt, not saved yet: its answer's status, or what went wrong ("" for 2xx);
    and the seconds its Retry-After asks (0: none)."""
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    # The current secret signs, and the previous one too while it still does.
    keys = [endpoint.secret, *([endpoint.previous_secret] if endpoint.previous_signs else [])]
    signature = signature_header(keys=keys, msg_id=delivery.key, timestamp=timestamp, body=body)
    headers = {
        "webhook-id": delivery.key,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    started, status_code, retry_after = clock.monotonic(), None, 0.0
    deadline = Deadline(REQUEST_SECONDS, about=f"the webhook request to endpoint {endpoint.pk}")
    try:
        # Again now, what the name resolves to today, within the request's deadline.
        target = Endpoint.url_target(endpoint.url, deadline=deadline)
        reply = public_post(target, body=body, headers=headers, deadline=deadline)
        status_code, retry_after = reply.status, reply.retry_after
        error = "" if 200 <= reply.status < 300 else f"HTTP {reply.status}: {reply.text[:200]}"
    except AddressRefused as refused:
        error = f"refused: {refused}"
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    ms = round((clock.monotonic() - started) * 1000)
    attempt = Attempt(delivery=delivery, status_code=status_code, duration_ms=ms, error=error[:500])
    return attempt, retry_after


def retry_wait(*, attempts: int, error: BaseException) -> float:
    """Seconds from the end of attempt number `attempts` to the next: the schedule's; for a
    429 or 503, BUSY_WAIT_SECONDS at least and its Retry-After up to twice the schedule's."""
    scheduled = SCHEDULE[min(attempts, len(SCHEDULE)) - 1]
    attempt = getattr(error, "attempt", None)
    if attempt is None or attempt.status_code not in BUSY:
        return scheduled
    return max(scheduled, BUSY_WAIT_SECONDS, min(error.retry_after, 2 * scheduled))


def attempt_record(*, job, outcome: str, result, error: BaseException | None) -> None:
    """The attempt's end ("done", "retry", "failed"), in the transaction recording it on the
    job while the attempt holds the lease (JobTask.attempt_ended): its Attempt row if a
    request was made, its endpoint's failing since (5 days of it disable it), a 410's
    disabling; staff told of a delivery failed for good. With its endpoint gone, the
    delivery goes too."""
    attempt = result if outcome == "done" else getattr(error, "attempt", None)
    failing_long = Q(failing_since__lte=db_now(plus_seconds=-FAILING_DISABLE_SECONDS))
    locked = locks.endpoint_for_update(endpoint_id=int(job.concurrency_key))
    endpoint = locked.annotate(failing_long=failing_long).first()
    if endpoint is None:  # deleted while this attempt held the delivery: it goes too
        Delivery.objects.filter(pk=job.pk).delete()
        return
    if attempt is not None:
        attempt.save()
        # Since when the endpoint's every attempt has failed.
        if outcome == "done" and endpoint.failing_since is not None:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        elif outcome != "done" and endpoint.failing_since is None:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=db_now())
        elif outcome != "done" and endpoint.failing_long and endpoint.enabled:
            endpoint_disable(endpoint=endpoint, reason="every attempt failed for 5 days")
            endpoint.enabled = False
    if outcome in ("retry", "done") or isinstance(error, EndpointDisabled):
        return
    if isinstance(error, EndpointGone):
        if endpoint.enabled:
            endpoint_disable(endpoint=endpoint, reason="it answered 410 Gone")
        return
    why = f"{type(error).__name__}: {error}" if error else "its attempts all lost their worker"
    if attempt is not None:
        why = f"{job.attempts} attempts failed, the last: {attempt.error}"
    staff_told(endpoint=endpoint, delivery_id=job.key, reason=why)
