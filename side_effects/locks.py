"""Every row lock of side effects: named querysets for the caller's transaction (the
claim of a task's batch and the mark of an email's side effect lock in their own
statements: side_effects.sql)."""

from django.db.models import QuerySet

from core.clock import db_now

from .models import OrderSideEffect

PENDING = OrderSideEffect.Status.PENDING


def side_effects_overdue_for_update(*, limit: int, exclude_kinds=()) -> QuerySet[OrderSideEffect]:
    """Up to `limit` pending rows past their deadline (the database's clock), but of
    `exclude_kinds`, the longest overdue first; rows another transaction holds are skipped
    (a delivery or another reconciler run is on them), so no order of locking can
    deadlock."""
    return (
        OrderSideEffect.objects.select_for_update(skip_locked=True)
        .filter(deadline__lt=db_now(), status=PENDING)
        .exclude(kind__in=list(exclude_kinds))
        .order_by("deadline", "pk")
        .only("pk", "order_id", "kind", "redrives", "deadline", "trace_context")[:limit]
    )
