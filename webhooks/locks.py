"""Every row lock of webhooks: named querysets for the caller's transaction. An endpoint's
row is taken by staff's changes and by the record of each attempt at it (its failing
since, a 410's disabling), so that these never cross. An attempt's record takes its job's
row (the delivery) first, then its endpoint's: whoever holds an endpoint's row takes its
deliveries' rows without waiting (SKIP LOCKED)."""

from django.db.models import QuerySet

from worker.models import held_by_an_attempt

from . import selectors
from .models import Delivery, Endpoint


def endpoint_for_update(*, endpoint_id: int) -> QuerySet[Endpoint]:
    return Endpoint.objects.select_for_update().filter(pk=endpoint_id).order_by("pk")


def endpoint_deliveries_skip_locked(*, endpoint_id: int) -> QuerySet[Delivery]:
    """The endpoint's deliveries that no attempt holds, locked; those another transaction
    holds (an attempt ending, a claim, the jobs' prune) are skipped."""
    rows = selectors.endpoint_deliveries(endpoint_id=endpoint_id).exclude(held_by_an_attempt())
    return rows.select_for_update(skip_locked=True).order_by("pk")
