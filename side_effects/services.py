"""Writes of side effects: opened at checkout, marked by their tasks, re-driven by the
reconciler."""

import enum
import logging
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from core.signals import isolated_inserts, send_robust_isolated
from core.telemetry import span_continuing, trace_carrier
from worker.dead_letters import dead_letter_record
from worker.outbox import enqueue_on_commit

from . import locks, metrics, registry, selectors
from .models import OrderSideEffect, side_effect_due
from .signals import side_effect_failed

logger = logging.getLogger(__name__)

Status = OrderSideEffect.Status


def side_effects_open(*, order_id: int) -> list[OrderSideEffect]:
    """One pending side effect per registered kind for a new order, in the caller's
    (the checkout's) transaction: what the reconciler finds if a task never comes."""
    context, due = trace_carrier(), side_effect_due()
    rows = OrderSideEffect.objects.bulk_create(
        [
            OrderSideEffect(order_id=order_id, kind=kind, deadline=due, trace_context=context)
            for kind in registry.kinds()
        ]
    )
    for row in rows:
        del row.deadline  # the database's value, read from it if asked (a deferred field)
    return rows


class Attempt(enum.Enum):
    """What side_effects_attempt_start found for an order."""

    COUNTED = "counted"  # go on: the attempt is counted
    NOT_DUE = "not due"  # done, unknown, or ended by this very message before
    LOST_BEFORE = "lost before"  # an earlier attempt lost its worker: run it alone
    POISON = "poison"  # its last attempts all lost their worker: this one would too


class Started(NamedTuple):
    """An order's side effect as side_effects_attempt_start left it."""

    attempt: Attempt
    opened_at: datetime | None = None  # when the checkout opened it: its lag, once done


def side_effects_attempt_start(
    *, order_ids: list[int], kind: str, message_id: str
) -> dict[int, Started]:
    """Count an attempt at each of these side effects (a message's orders), before their
    work and outside it, so that it stays counted if the worker dies in the work: one
    UPDATE for the message, and one read of what it found. Not counted: one done, or
    unknown, or ended by `message_id` before (that message delivered again); one whose
    earlier attempt lost its worker, unless it is alone in its message (it may kill this
    worker too: the others must not wait on it). An order the run never reaches (its
    worker died at an earlier one) keeps the count and goes out alone next time: one count
    of an order at most is of a message that lost its worker before the order's turn.
    POISON: its last SHOPFLOW_TASK_MAX_REDELIVERIES + 1 attempts all lost their worker."""
    rows = OrderSideEffect.objects.filter(order_id__in=order_ids, kind=kind).exclude(
        status=Status.DONE
    )
    if message_id:
        rows = rows.exclude(ended_in=message_id)
    most = settings.SHOPFLOW_TASK_MAX_REDELIVERIES + 1
    alone = len(order_ids) == 1
    # The rows this UPDATE counts are those it stamps with this moment.
    stamp = timezone.now()
    rows.filter(open_attempts__lt=most if alone else 1).update(
        open_attempts=F("open_attempts") + 1, updated_at=stamp
    )
    started = dict.fromkeys(order_ids, Started(Attempt.NOT_DUE))
    for order_id, open_attempts, updated_at, opened_at in rows.values_list(
        "order_id", "open_attempts", "updated_at", "created_at"
    ):
        if updated_at == stamp:
            attempt = Attempt.COUNTED
        elif open_attempts >= most:
            attempt = Attempt.POISON
        else:
            attempt = Attempt.LOST_BEFORE
        started[order_id] = Started(attempt, opened_at)
    return started


def side_effect_mark_done_with_work(*, kind: str, order_id: int) -> bool:
    """This order's `kind` side effect, pending or failed (a delivery that comes after the
    reconciler gave up on it still does the work, which is never done twice), marked done
    in the caller's transaction, the one that does the work: it commits with the work, or
    not at all. One UPDATE of the row it locks. False when it is done already, unknown, or
    held by another delivery (left to it: this never waits for another)."""
    if not connection.in_atomic_block:
        raise TransactionManagementError(
            "side_effect_mark_done_with_work() needs the work's transaction"
        )
    held = locks.side_effect_not_done_skip_locked(order_id=order_id, kind=kind)
    return _mark_done(OrderSideEffect.objects.filter(pk__in=held.values("pk")))


def side_effect_mark_done(*, order_id: int, kind: str) -> bool:
    """Done, on its own (an email, after SMTP); False when it was done already. One UPDATE:
    it waits for a delivery that holds the row and reads its status again after it
    (PostgreSQL's READ COMMITTED), as a SELECT ... FOR UPDATE would. One done already is
    left as it is: its `updated_at` stays the moment it was done (the daily lag,
    side_effects.selectors.side_effect_outcomes)."""
    rows = OrderSideEffect.objects.filter(order_id=order_id, kind=kind).exclude(status=Status.DONE)
    return _mark_done(rows)


def _mark_done(rows) -> bool:
    return bool(rows.update(status=Status.DONE, error="", updated_at=timezone.now()))


def side_effects_mark_pending(*, order_ids: list[int], kind: str) -> None:
    """Pending again (a dead letter put back): a new deadline, the re-drives start over.
    A done side effect stays done."""
    OrderSideEffect.objects.filter(order_id__in=order_ids, kind=kind).exclude(
        status=Status.DONE
    ).update(
        status=Status.PENDING,
        error="",
        updated_at=timezone.now(),
        deadline=side_effect_due(),
        redrives=0,
        open_attempts=0,
        ended_in="",
    )


def side_effect_mark_failed(*, order_id: int, kind: str, error: str, ended_in: str = "") -> None:
    """Failed for good (by the run of message `ended_in`, if any). A done side effect stays
    done (a late failure report of an earlier attempt must not overwrite a later success);
    one that was not failed yet sends side_effect_failed, once per failure."""
    error = error[:2000]
    rows = OrderSideEffect.objects.filter(order_id=order_id, kind=kind).exclude(status=Status.DONE)
    changes = {
        "status": Status.FAILED,
        "error": error,
        "updated_at": timezone.now(),
        "open_attempts": 0,
        "ended_in": ended_in,
    }
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


def side_effects_postpone(
    *, order_ids: list[int], kind: str, seconds: float, ended_in: str = "", attempt_ended: bool
) -> None:
    """A retry of these side effects' task is due in `seconds`, scheduled by the run of
    message `ended_in`: the reconciler leaves them alone until that retry has had its
    chance. `attempt_ended`: an attempt of theirs failed (it did not lose its worker)."""
    ended = {"open_attempts": 0} if attempt_ended else {}
    OrderSideEffect.objects.filter(order_id__in=order_ids, kind=kind, status=Status.PENDING).update(
        deadline=side_effect_due(after_seconds=seconds), ended_in=ended_in, **ended
    )


def side_effects_reconcile(*, limit: int = 500) -> dict[str, int]:
    """Re-drive side effects still pending past their deadline, whatever kept them: their
    task enqueued again through the outbox, in the order's trace, the deadline moved on;
    one re-driven SHOPFLOW_SIDE_EFFECT_MAX_REDRIVES times already is failed and
    dead-lettered instead. One that may only be waiting its turn is left alone, uncounted
    (side_effect_redrive_margins). docs/reliability.md, "The reconciler".
    Returns {"redriven": n, "failed": n}."""
    margins = selectors.side_effect_redrive_margins()
    if margins is None:
        return {"redriven": 0, "failed": 0}
    most = settings.SHOPFLOW_SIDE_EFFECT_MAX_REDRIVES
    with transaction.atomic():
        stuck = list(locks.side_effects_overdue_skip_locked(limit=limit, overdue_by=margins))
        redrive = [effect for effect in stuck if effect.redrives < most]
        with isolated_inserts(about="the reconciler's re-drives"):  # one INSERT for all
            for effect in redrive:
                _redrive(effect, most)
        OrderSideEffect.objects.filter(pk__in=[effect.pk for effect in redrive]).update(
            redrives=F("redrives") + 1, deadline=side_effect_due(), updated_at=timezone.now()
        )
        give_up = [effect for effect in stuck if effect.redrives >= most]
        for effect in give_up:
            _fail_stuck(effect)
    return {"redriven": len(redrive), "failed": len(give_up)}


def _redrive(effect: OrderSideEffect, most: int) -> None:
    # One row per side effect: the relay joins those of a kind into messages.
    with span_continuing(f"re-drive {effect.kind}", [effect.trace_context]):
        enqueue_on_commit(registry.task_for(effect.kind), [effect.order_id])
    transaction.on_commit(lambda: metrics.REDRIVES.labels(effect.kind).inc(), robust=True)
    logger.warning(
        "reconciler: order %s %s still pending past its deadline; re-driving it (%s of %s)",
        effect.order_id,
        effect.kind,
        effect.redrives + 1,
        most,
    )


def _fail_stuck(effect: OrderSideEffect) -> None:
    error = f"still pending after {effect.redrives} re-drives by the reconciler"
    logger.error("reconciler: order %s %s %s; failed", effect.order_id, effect.kind, error)
    dead_letter_record(
        task_name=registry.task_for(effect.kind).name,
        args=[[effect.order_id]],
        exception=f"SideEffectStuck: {error}",
        attempts=effect.redrives + 1,
    )
    side_effect_mark_failed(order_id=effect.order_id, kind=effect.kind, error=error)
