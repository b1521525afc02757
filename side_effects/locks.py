"""Every row lock of side effects: named querysets for the caller's transaction (the
claim of a task's batch and the mark of an email's side effect lock in their own
statements: side_effects.sql)."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from .models import OrderSideEffect, SideEffectLease

PENDING = OrderSideEffect.Status.PENDING


def side_effects_overdue_for_update(*, now, limit: int) -> QuerySet[OrderSideEffect]:
    """Up to `limit` pending rows past their deadline or whose worker's lease lapsed, the
    longest overdue first; rows another transaction holds are skipped (a delivery or
    another reconciler run is on them), so no order of locking can deadlock."""
    lapsed = SideEffectLease.objects.filter(
        order_id=OuterRef("order_id"), kind=OuterRef("kind"), until__lt=now
    )
    return (
        OrderSideEffect.objects.select_for_update(skip_locked=True)
        .filter(Q(deadline__lt=now) | Exists(lapsed), status=PENDING)
        .order_by("deadline", "pk")
        .only("pk", "order_id", "kind", "redrives", "deadline")[:limit]
    )
