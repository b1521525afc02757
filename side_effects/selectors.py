"""Reads of side effects."""

from django.db.models import Prefetch
from django.utils import timezone

from . import registry
from .models import OrderSideEffect

PENDING = OrderSideEffect.Status.PENDING


def side_effects_prefetch() -> Prefetch:
    """For a queryset of orders: each order's side effects as `order.side_effect_rows`, in
    one query for them all."""
    return Prefetch(
        "side_effects",
        queryset=OrderSideEffect.objects.only("order_id", "kind", "status"),
        to_attr="side_effect_rows",
    )


def side_effect_states(*, rows) -> dict[str, str]:
    """{kind: status} for every registered kind, pending where `rows` (an order's) have
    none: the order's side effects as the API shows them."""
    states = dict.fromkeys(registry.kinds(), PENDING.value)
    states.update({row.kind: row.status for row in rows if row.kind in states})
    return states


def side_effects_past_deadline_count() -> int:
    """Side effects pending past their deadline: the reconciler's next work."""
    return OrderSideEffect.objects.filter(status=PENDING, deadline__lt=timezone.now()).count()
