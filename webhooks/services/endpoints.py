"""Staff's endpoints: made, changed, rotated, deleted; disabled by the shop when they
answer 410 Gone or have failed for 5 days (webhooks.services.sending)."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.clock import db_now
from core.signals import send_robust_isolated
from worker.jobs import jobs_delete, jobs_fail_pending
from worker.models import Job

from .. import locks, selectors
from ..exceptions import EndpointNotFound
from ..models import Delivery, Endpoint
from ..signals import webhook_failed
from ..signatures import secret_new
from .deliveries import any_enabled

# After a rotation the previous secret still signs for this long (receivers switch over).
ROTATION_OVERLAP_SECONDS = 24 * 3600


def endpoint_create(*, url: str, events: list[str], description: str = "") -> Endpoint:
    endpoint = Endpoint.objects.create(
        url=url, events=events, description=description, secret=secret_new()
    )
    any_enabled.expire()
    return endpoint


def endpoint_update(*, endpoint_id: int, **changes) -> Endpoint:
    """Change url, events, description or enabled. Enabling clears why it was disabled;
    disabling fails its pending deliveries (a redeliver sends one again)."""
    with transaction.atomic():
        endpoint = locks.endpoint_for_update(endpoint_id=endpoint_id).first()
        if endpoint is None:
            raise EndpointNotFound()
        enabled = changes.pop("enabled", endpoint.enabled)
        if enabled and not endpoint.enabled:
            changes.update(enabled=True, disabled_reason="", disabled_at=None, failing_since=None)
        Endpoint.objects.filter(pk=endpoint_id).update(**changes)
        any_enabled.expire()
        if endpoint.enabled and not enabled:
            endpoint_disable(endpoint=endpoint, reason="disabled by staff", notify=False)
    return selectors.endpoint_get(endpoint_id=endpoint_id)


def endpoint_delete(*, endpoint_id: int) -> None:
    """The endpoint, then its deliveries with their attempts (jobs_delete), none waited
    for (locks.endpoint_deliveries_skip_locked). One that another transaction holds (an
    attempt under way) goes as its attempt ends, which finds no endpoint."""
    with transaction.atomic():
        if not Endpoint.objects.filter(pk=endpoint_id).delete()[0]:
            raise EndpointNotFound()
        jobs_delete(jobs=locks.endpoint_deliveries_skip_locked(endpoint_id=endpoint_id))


def endpoint_secret_rotate(*, endpoint_id: int) -> Endpoint:
    """A new secret; the one it replaces signs too for ROTATION_OVERLAP_SECONDS (one
    UPDATE: its right-hand sides read the row as it was)."""
    Endpoint.objects.filter(pk=endpoint_id).update(
        previous_secret=F("secret"),
        previous_secret_until=db_now(plus_seconds=ROTATION_OVERLAP_SECONDS),
        secret=secret_new(),
    )
    return selectors.endpoint_get(endpoint_id=endpoint_id)  # EndpointNotFound when none was


def endpoint_disable(*, endpoint: Endpoint, reason: str, notify: bool = True) -> None:
    """In the caller's transaction, the endpoint locked: no more attempts to it. Its
    deliveries' jobs due later fail with the reason (one in flight ends as it ends, and a
    claim of it later fails it); staff are told when the shop disabled it."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason=reason[:500], disabled_at=timezone.now()
    )
    locked = locks.endpoint_deliveries_skip_locked(endpoint_id=endpoint.pk)
    ids = locked.filter(status=Job.Status.PENDING).values_list("pk", flat=True)
    waiting = Delivery.objects.filter(pk__in=list(ids))
    jobs_fail_pending(jobs=waiting, error=f"the endpoint was disabled: {reason}")
    if notify:
        staff_told(endpoint=endpoint, delivery_id="", reason=reason)


def staff_told(*, endpoint: Endpoint, delivery_id: str, reason: str) -> None:
    """webhook_failed, in the caller's transaction: a delivery failed for good, or (no
    delivery_id) the shop disabled the endpoint."""
    send_robust_isolated(
        webhook_failed,
        sender=Endpoint,
        about=f"webhook_failed, endpoint {endpoint.pk} {delivery_id}",
        endpoint_id=endpoint.pk,
        url=endpoint.url,
        delivery_id=delivery_id,
        reason=reason[:300],
    )
