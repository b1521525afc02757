"""Every row lock of webhooks: named querysets for the caller's transaction. An endpoint's
row is the lock of its deliveries' slots: a claim, a wait and the end of an attempt take
it first, so that a delivery that waits for a slot is never missed by the attempt that
frees one (webhooks.services.sending)."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from core.clock import db_now

from .models import Delivery, Endpoint
from .selectors import deliveries_in_flight


def endpoint_for_update(*, endpoint_id: int) -> QuerySet[Endpoint]:
    """The endpoint, locked, with `previous_signs`: whether its previous secret still signs
    (by the database's clock)."""
    return (
        Endpoint.objects.select_for_update()
        .filter(pk=endpoint_id)
        .annotate(previous_signs=Q(previous_secret_until__gt=db_now()))
        .order_by("pk")
    )


def endpoints_failing_for_update(*, seconds: float) -> QuerySet[Endpoint]:
    """Enabled endpoints whose attempts have all failed for `seconds`, locked."""
    return (
        Endpoint.objects.select_for_update()
        .filter(enabled=True, failing_since__lte=db_now(plus_seconds=-seconds))
        .order_by("pk")
    )


def deliveries_lost_skip_locked(*, past_due_seconds: float, limit: int) -> QuerySet[Delivery]:
    """The ids of up to `limit` pending deliveries due `past_due_seconds` ago or longer that
    no attempt holds (no lease, or one that ran out) and that no attempt going at their
    endpoint will wake (not waiting, or waiting where no lease runs): oldest first, locked;
    rows another transaction holds are skipped (a claim or an attempt's end is on them),
    so it never waits."""
    in_flight = deliveries_in_flight(endpoint_id=OuterRef("endpoint_id"))
    return (
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(status=Delivery.Status.PENDING)
        .filter(next_attempt_at__lte=db_now(plus_seconds=-past_due_seconds))
        .exclude(leased_until__gt=db_now())
        .filter(Q(waiting=False) | ~Exists(in_flight))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
