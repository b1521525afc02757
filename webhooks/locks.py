"""Every row lock of webhooks: named querysets for the caller's transaction. An endpoint's
row is taken by staff's changes and by the record of each attempt at it (its failing
since, a 410's disabling), so that these never cross."""

from django.db.models import QuerySet

from .models import Endpoint


def endpoint_for_update(*, endpoint_id: int) -> QuerySet[Endpoint]:
    return Endpoint.objects.select_for_update().filter(pk=endpoint_id).order_by("pk")
