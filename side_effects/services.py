"""Writes of side effects: opened at checkout, marked by their tasks, re-driven by the
reconciler."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from core.signals import isolated_inserts, send_robust_isolated
from worker.dead_letters import dead_letter_record
from worker.outbox import enqueue_on_commit

from . import locks, metrics, registry, sql
from .models import OrderSideEffect, SideEffectLease, side_effect_deadline
from .signals import side_effect_failed

logger = logging.getLogger(__name__)

Status = OrderSideEffect.Status


def side_effects_open(*, order_id: int) -> list[OrderSideEffect]:
    """One pending side effect per registered kind for a new order, in the caller's
    (the checkout's) transaction: what the reconciler finds if a task never comes."""
    return OrderSideEffect.objects.bulk_create(
        [OrderSideEffect(order_id=order_id, kind=kind) for kind in registry.kinds()]
    )


def side_effects_claim(*, kind: str, order_ids: list[int]) -> list[int]:
    """The `kind` side effects of these orders that are pending, or failed (a delivery that
    comes after the reconciler gave up on one still does the work, which is never done
    twice), marked done in the caller's transaction, the one that does the work: it
    commits with the work, or not at all. Rows another delivery holds are left to it.
    Returns the order ids claimed, in order; unknown orders and those done already are
    left out. One statement (side_effects.sql)."""
    if not connection.in_atomic_block:
        raise TransactionManagementError("side_effects_claim() needs the work's transaction")
    claimed = sql.side_effects_mark_done(kind=kind, order_ids=order_ids, skip_locked=True)
    metrics.lag_observe_on_commit(kind=kind, created=[created for _, created in claimed])
    return [claimed_id for claimed_id, _ in claimed]


def side_effects_mark_done(*, order_ids: list[int], kind: str) -> None:
    """Side effects done outside a claim (emails, after SMTP), in one statement
    (side_effects.sql). One done already is left as it is: its `updated_at` stays the
    moment it was done (the daily lag, side_effects.selectors.side_effect_outcomes), and
    its lag is not observed twice."""
    marked = sql.side_effects_mark_done(kind=kind, order_ids=order_ids, skip_locked=False)
    metrics.lag_observe_on_commit(kind=kind, created=[created for _, created in marked])


def side_effects_mark_pending(*, order_ids: list[int], kind: str) -> None:
    """Pending again (a dead letter put back): a new deadline, the re-drives start over.
    A done side effect stays done."""
    OrderSideEffect.objects.filter(order_id__in=order_ids, kind=kind).exclude(
        status=Status.DONE
    ).update(
        status=Status.PENDING,
        error="",
        updated_at=timezone.now(),
        deadline=side_effect_deadline(),
        redrives=0,
    )


def side_effect_mark_failed(*, order_id: int, kind: str, error: str) -> None:
    """Failed for good. A done side effect stays done (a late failure report of an earlier
    attempt must not overwrite a later success); one that was not failed yet sends
    side_effect_failed, once per failure."""
    error = error[:2000]
    rows = OrderSideEffect.objects.filter(order_id=order_id, kind=kind).exclude(status=Status.DONE)
    changes = {"status": Status.FAILED, "error": error, "updated_at": timezone.now()}
    with transaction.atomic():
        if rows.exclude(status=Status.FAILED).update(**changes):
            send_robust_isolated(
                side_effect_failed,
                sender=OrderSideEffect,
                about=f"side_effect_failed, order {order_id} {kind}",
                order_id=order_id,
                kind=kind,
                error=error,
            )
        else:
            rows.update(**changes)  # failed again: the latest error


def side_effects_postpone(*, order_ids: list[int], kind: str, seconds: float) -> None:
    """A retry of these side effects' task is due in `seconds`: the reconciler leaves them
    alone until that retry has had its chance."""
    deadline = timezone.now() + timedelta(
        seconds=seconds + settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS
    )
    OrderSideEffect.objects.filter(order_id__in=order_ids, kind=kind, status=Status.PENDING).update(
        deadline=deadline
    )
    # No worker holds them until the retry comes: a lapsing lease must not re-drive them.
    SideEffectLease.objects.filter(order_id__in=order_ids, kind=kind).delete()


def side_effects_lease(*, order_ids: list[int], kind: str, until) -> None:
    """A live worker holds a message with these side effects' work, until `until` unless
    it renews (worker.leases): should it die, the reconciler re-drives them once the
    lease lapses. One statement (an upsert)."""
    SideEffectLease.objects.bulk_create(
        # In order: two workers leasing crossing batches lock the rows in the same order.
        [SideEffectLease(order_id=i, kind=kind, until=until) for i in sorted(set(order_ids))],
        update_conflicts=True,
        unique_fields=["order", "kind"],
        update_fields=["until"],
    )


def side_effects_reconcile(*, limit: int = 500) -> dict[str, int]:
    """Re-drive side effects still pending past their deadline, or whose worker's lease
    lapsed, whatever kept them: a message the broker lost or never delivered, a worker
    killed or cut off mid-task, a receiver that raised before enqueueing. Their task is
    enqueued again through the outbox (tasks are idempotent: a side effect that was only
    slow is not applied twice) and the deadline moves on. One re-driven
    SHOPFLOW_SIDE_EFFECT_MAX_REDRIVES times already is failed and dead-lettered instead,
    for a person to look at (the dead letter's requeue sets it back to pending). Returns
    {"redriven": n, "failed": n}."""
    most = settings.SHOPFLOW_SIDE_EFFECT_MAX_REDRIVES
    now = timezone.now()
    with transaction.atomic():
        stuck = list(locks.side_effects_overdue_for_update(now=now, limit=limit))
        redrive = [effect for effect in stuck if effect.redrives < most]
        with isolated_inserts(about="the reconciler's re-drives"):  # one INSERT for all
            for effect in redrive:
                _redrive(effect, now, most)
        OrderSideEffect.objects.filter(pk__in=[effect.pk for effect in redrive]).update(
            redrives=F("redrives") + 1, deadline=side_effect_deadline(), updated_at=now
        )
        give_up = [effect for effect in stuck if effect.redrives >= most]
        for effect in give_up:
            _give_up(effect)
        lapsed = SideEffectLease.objects.filter(until__lt=now)
        if len(stuck) == limit:  # the rest wait for the next run: keep their lapsed leases
            lapsed = lapsed.filter(order_id__in={effect.order_id for effect in stuck})
        lapsed.delete()
    return {"redriven": len(redrive), "failed": len(give_up)}


def _redrive(effect: OrderSideEffect, now, most: int) -> None:
    # One row per side effect: the relay joins those of a kind into messages.
    enqueue_on_commit(registry.task_for(effect.kind), [effect.order_id])
    transaction.on_commit(lambda: metrics.REDRIVES.labels(effect.kind).inc(), robust=True)
    why = (
        f"{now - effect.deadline} past its deadline"
        if effect.deadline < now
        else "and its worker's lease lapsed"
    )
    logger.warning(
        "reconciler: order %s %s still pending %s; re-driving it (%s of %s)",
        effect.order_id,
        effect.kind,
        why,
        effect.redrives + 1,
        most,
    )


def _give_up(effect: OrderSideEffect) -> None:
    error = f"still pending after {effect.redrives} re-drives by the reconciler"
    logger.error("reconciler: order %s %s %s; failed", effect.order_id, effect.kind, error)
    dead_letter_record(
        task_id="",
        task_name=registry.task_for(effect.kind).name,
        args=[[effect.order_id]],
        kwargs={},
        queue="",
        exception=f"SideEffectStuck: {error}",
        traceback="",
        attempts=effect.redrives + 1,
    )
    side_effect_mark_failed(order_id=effect.order_id, kind=effect.kind, error=error)
