"""Every row lock of side effects: named querysets for the caller's transaction."""

from django.db.models import Q, QuerySet

from core.clock import db_now

from .models import OrderSideEffect

PENDING, DONE = OrderSideEffect.Status.PENDING, OrderSideEffect.Status.DONE


def side_effect_not_done_skip_locked(*, order_id: int, kind: str) -> QuerySet[OrderSideEffect]:
    """The order's `kind` side effect while not done; skipped while another transaction
    holds it (a task's done mark never waits for another delivery)."""
    return (
        OrderSideEffect.objects.select_for_update(skip_locked=True)
        .filter(order_id=order_id, kind=kind)
        .exclude(status=DONE)
        .order_by("pk")
    )


def side_effects_overdue_skip_locked(
    *, limit: int, overdue_by: dict[str, float]
) -> QuerySet[OrderSideEffect]:
    """Up to `limit` pending rows of the kinds in `overdue_by`, each past its deadline by
    at least its kind's seconds there (the database's clock), the longest overdue first;
    rows another transaction holds are skipped (a delivery or another reconciler run is on
    them), so no order of locking can deadlock."""
    if not overdue_by:
        return OrderSideEffect.objects.none()
    kinds = Q()
    for kind, seconds in overdue_by.items():
        kinds |= Q(kind=kind, deadline__lt=db_now(plus_seconds=-seconds))
    return (
        OrderSideEffect.objects.select_for_update(skip_locked=True)
        .filter(kinds, status=PENDING)
        .order_by("deadline", "pk")
        .only("pk", "order_id", "kind", "redrives", "deadline", "trace_context")[:limit]
    )
