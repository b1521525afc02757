"""Reads of side effects."""

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db.models import Count, Max, Prefetch, Q

from worker.queues import queue_backlogs, queue_of

from . import registry
from .models import OrderSideEffect

Status = OrderSideEffect.Status


class Outcome(NamedTuple):
    """One order's side effects: ms from its placing to the last one done (None until all
    are done), and how many failed and how many are pending."""

    lag_ms: int | None
    failed: int
    pending: int


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
    states = dict.fromkeys(registry.kinds(), Status.PENDING.value)
    states.update({row.kind: row.status for row in rows if row.kind in states})
    return states


def side_effect_outcomes(*, placed_from: datetime, placed_before: datetime) -> Iterator[Outcome]:
    """For each order placed in [placed_from, placed_before) that has side effects: how
    long its side effects took, and how many failed. Streamed (one row per order, in
    chunks), so a day of orders is never all in memory at once.

    `lag_ms` runs from the order's `placed_at` to the moment its last side effect was
    done: a done row's `updated_at`, which nothing writes again once it is done. None
    while any of its side effects is pending or failed."""
    done, failed, pending = Status.DONE, Status.FAILED, Status.PENDING
    rows = (
        OrderSideEffect.objects.filter(
            order__placed_at__gte=placed_from, order__placed_at__lt=placed_before
        )
        .values("order_id")
        .annotate(
            placed_at=Max("order__placed_at"),
            last_done_at=Max("updated_at", filter=Q(status=done)),
            not_done=Count("id", filter=~Q(status=done)),
            failed=Count("id", filter=Q(status=failed)),
            pending=Count("id", filter=Q(status=pending)),
        )
        .order_by()
        .values_list("placed_at", "last_done_at", "not_done", "failed", "pending")
    )
    for placed_at, last_done_at, not_done, failed_count, pending_count in rows.iterator(
        chunk_size=2000
    ):
        lag_ms = None
        if not not_done:
            lag_ms = max(round((last_done_at - placed_at).total_seconds() * 1000), 0)
        yield Outcome(lag_ms=lag_ms, failed=failed_count, pending=pending_count)


def side_effect_redrive_margins() -> dict[str, float] | None:
    """{kind: how many seconds past its deadline a side effect of the kind must be so that
    it cannot be waiting its turn in the broker}; a kind left out may have all of them
    waiting; None when every kind may (the relay is behind, or the broker does not answer).
    A side effect's latest message was due a deadline (SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS)
    before its deadline and published within the relay's lateness of that, and a queue is
    first in, first out: docs/reliability.md, "The reconciler"."""
    queues = {kind: queue_of(task_name=registry.task_for(kind).name) for kind in registry.kinds()}
    backlogs = queue_backlogs(names=set(queues.values()), who="reconciler")
    if backlogs is None:
        return None
    deadline = settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS
    # An empty queue holds no side effect's message, however late it was published.
    return {
        kind: max(age + backlogs.lateness - deadline, 0.0) if age else 0.0
        for kind, queue in queues.items()
        if (age := backlogs.ages[queue]) is not None
    }
