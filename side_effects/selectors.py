"""Reads of side effects: an order's jobs of the registered kinds (worker.models.Job)."""

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from django.db.models import (
    BigIntegerField,
    CharField,
    Count,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Cast

from worker.models import Job

from . import registry

Status = Job.Status


class Outcome(NamedTuple):
    """One order's side effects: ms from its placing to the last one done (None until all
    are done), and how many failed and how many are pending."""

    lag_ms: int | None
    failed: int
    pending: int


def _field(kind: str) -> str:
    return f"side_effect_{kind}"


def side_effects_annotate(orders: QuerySet) -> QuerySet:
    """A queryset of orders, each with the status of its job of every registered kind (a
    subquery each, on the jobs' unique (kind, key) index): read by side_effect_states."""
    key = Cast(OuterRef("pk"), output_field=CharField())
    return orders.annotate(
        **{
            _field(kind): Subquery(Job.objects.filter(kind=kind, key=key).values("status")[:1])
            for kind in registry.kinds()
        }
    )


def side_effect_states_known(*, order, states: dict[str, str]) -> None:
    """Give `order` the states of its side effects, known already (as its checkout wrote
    them), as side_effects_annotate would: side_effect_states reads them with no query."""
    for kind, status in states.items():
        setattr(order, _field(kind), status)


def side_effect_states(*, order) -> dict[str, str]:
    """{kind: status}: the order's side effects as the API shows them. Every kind of its
    checkout, pending where there is no job (the order was not read through
    side_effects_annotate: one query then); a later change's kinds once they have one."""
    kinds = registry.kinds()
    if all(hasattr(order, _field(kind)) for kind in kinds):
        found = {kind: getattr(order, _field(kind)) for kind in kinds}
    else:
        found = dict(
            Job.objects.filter(kind__in=kinds, key=str(order.pk)).values_list("kind", "status")
        )
    placed = registry.kinds(on=registry.PLACED)
    return {
        kind: found.get(kind) or Status.PENDING.value
        for kind in kinds
        if kind in placed or found.get(kind)
    }


def side_effect_outcomes(*, placed_from: datetime, placed_before: datetime) -> Iterator[Outcome]:
    """For each order whose checkout's side effects were asked for in [placed_from,
    placed_before) (their jobs' created_at: the checkout's transaction): how long they
    took, and how many failed. Streamed (one row per order, in chunks), so a day is never
    all in memory.

    `lag_ms` runs from the checkout to the moment its last side effect was done. None while
    any of its side effects is pending or failed."""
    done, failed, pending = Status.DONE, Status.FAILED, Status.PENDING
    rows = (
        Job.objects.filter(
            kind__in=registry.kinds(on=registry.PLACED),
            created_at__gte=placed_from,
            created_at__lt=placed_before,
        )
        .values("key")
        .annotate(
            opened_at=Min("created_at"),
            last_done_at=Max("ended_at", filter=Q(status=done)),
            not_done=Count("id", filter=~Q(status=done)),
            failed=Count("id", filter=Q(status=failed)),
            pending=Count("id", filter=Q(status=pending)),
        )
        .order_by()
        .values_list("opened_at", "last_done_at", "not_done", "failed", "pending")
    )
    for opened_at, last_done_at, not_done, failed_count, pending_count in rows.iterator(
        chunk_size=2000
    ):
        lag_ms = None
        if not not_done:
            lag_ms = max(round((last_done_at - opened_at).total_seconds() * 1000), 0)
        yield Outcome(lag_ms=lag_ms, failed=failed_count, pending=pending_count)


def side_effect_order_ids(*, status: str):
    """A subquery of the ids of the orders with a side effect in `status` (for a filter)."""
    jobs = Job.objects.filter(kind__in=registry.kinds(), status=status)
    return jobs.annotate(order_id=Cast("key", output_field=BigIntegerField())).values("order_id")
