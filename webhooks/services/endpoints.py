"""Staff's endpoints: made, changed, rotated, deleted; disabled by the shop when they
answer 410 Gone or have failed for 5 days (webhooks.services.sending)."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.clock import db_now
from core.signals import send_robust_isolated
from worker.jobs import jobs_delete

from .. import locks, selectors
from ..exceptions import EndpointNotFound
from ..models import Endpoint
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
    """Change url, events, description or enabled. Enabling clears why it was disabled.
    A disabled endpoint's pending deliveries wait: each one due while it is disabled fails
    (webhooks.services.sending), and enabling it in time lets them go on."""
    with transaction.atomic():
        endpoint = locks.endpoint_for_update(endpoint_id=endpoint_id).first()
        if endpoint is None:
            raise EndpointNotFound()
        enabled = changes.pop("enabled", endpoint.enabled)
        if enabled and not endpoint.enabled:
            changes.update(enabled=True, disabled_reason="", disabled_at=None, failing_since=None)
        if endpoint.enabled and not enabled:
            changes.update(_disabled_now(reason="disabled by staff"))
        Endpoint.objects.filter(pk=endpoint_id).update(**changes)
        any_enabled.expire()
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


def endpoint_disable(*, endpoint: Endpoint, reason: str) -> None:
    """The shop disables it (410 Gone, 5 days of failures), in the caller's transaction, the
    endpoint locked; staff are told."""
    Endpoint.objects.filter(pk=endpoint.pk).update(**_disabled_now(reason=reason))
    staff_told(endpoint=endpoint, delivery_id="", reason=reason)


def _disabled_now(*, reason: str) -> dict:
    """An endpoint's fields as disabled now, for `reason`."""
    return {"enabled": False, "disabled_reason": reason[:500], "disabled_at": timezone.now()}


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
