"""Every row lock of webhooks: named querysets for the caller's transaction. An endpoint's
row is the lock of its deliveries' slots: a claim, a wait and the end of an attempt take
it first, so that a delivery that waits for a slot is never missed by the attempt that
frees one (webhooks.services.sending)."""

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from core.clock import db_now

from .models import Endpoint


def endpoint_for_update(*, endpoint_id: int) -> QuerySet[Endpoint]:
    """The endpoint, locked, with `previous_signs`: whether its previous secret still signs
    (by the database's clock)."""
    previous_signs = ExpressionWrapper(
        Q(previous_secret_until__gt=db_now()), output_field=BooleanField()
    )
    return (
        Endpoint.objects.select_for_update()
        .filter(pk=endpoint_id)
        .annotate(previous_signs=previous_signs)
        .order_by("pk")
    )


def endpoints_failing_for_update(*, seconds: float) -> QuerySet[Endpoint]:
    """Enabled endpoints whose attempts have all failed for `seconds`, locked."""
    return (
        Endpoint.objects.select_for_update()
        .filter(enabled=True, failing_since__lte=db_now(plus_seconds=-seconds))
        .order_by("pk")
    )
