"""The transactional outbox: enqueue a task in the caller's transaction, publish it after
commit, and let a relay publish what the broker refused.

    with transaction.atomic():
        order = ...
        enqueue(send_order_confirmation, order.pk)   # a row, in this transaction

A rollback leaves no row, so nothing is sent. A commit publishes the row right away; if
the broker is down the row stays pending and `relay()` (run by beat) publishes it later.
A row is published at least once; tasks are idempotent, which makes that exactly once
in effect.
"""

import json
import logging
import time
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import OutboxMessage

logger = logging.getLogger(__name__)

# After a failed publish, after-commit publishing in this process stands aside for a few
# seconds and leaves rows to the relay: a checkout must not wait on a dead broker each time.
BROKER_DOWN_PAUSE_SECONDS = 5.0
_broker_down_until = 0.0


def enqueue(task, *args, **kwargs) -> OutboxMessage:
    """Record `task(*args, **kwargs)` in the current transaction; publish it on commit.

    `task` is a Celery task or its registered name. Arguments must be JSON: a payload
    that is not fails here, in the caller's transaction, not later in a worker.
    """
    name = task if isinstance(task, str) else task.name
    try:
        json.dumps([args, kwargs])
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Arguments of {name} must be JSON serialisable: {exc}") from exc
    message = OutboxMessage.objects.create(task_name=name, args=list(args), kwargs=kwargs)
    # One callback per row: if a savepoint around this call rolls back, Django drops the
    # callback with it, and the other rows of the transaction still go out.
    transaction.on_commit(partial(publish_message, message), robust=True)
    return message


def publish_message(message: OutboxMessage) -> bool:
    """Publish one row if nobody else holds it. True when it went to the broker."""
    if time.monotonic() < _broker_down_until:
        logger.debug("outbox: broker was down moments ago, row %s left to the relay", message.pk)
        return False
    if not _claim(_claimable(timezone.now()).filter(pk=message.pk)):
        return False  # a relay took it
    return _publish(message)


def relay(*, batch_size: int | None = None, budget_seconds: float = 4.0) -> int:
    """Publish pending rows, oldest first, batch after batch for up to `budget_seconds`
    (under beat's 5 s interval), so a backlog left by an outage drains quickly. Returns
    how many went out; stops at the first broker error, the rest stay pending."""
    batch_size = batch_size or settings.SHOPFLOW_OUTBOX_BATCH_SIZE
    deadline = time.monotonic() + budget_seconds
    published = 0
    while True:
        sent, full = _relay_batch(batch_size)
        published += sent
        if not full or time.monotonic() >= deadline:
            break
    if published:
        logger.info("outbox relay published %s message(s)", published)
    return published


def _relay_batch(batch_size: int) -> tuple[int, bool]:
    """One batch: (published, was it a full batch that all went out?).

    Rows are claimed with a lease in a short transaction (FOR UPDATE SKIP LOCKED on
    PostgreSQL), so relays running at once take disjoint batches, and rows of a relay that
    died are taken over when its lease ends.
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            _claimable(now)
            .select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids or not _claim(OutboxMessage.objects.filter(pk__in=ids)):
            return 0, False
    published = 0
    for position, message in enumerate(OutboxMessage.objects.filter(pk__in=ids).order_by("id")):
        if not _publish(message):
            _release(ids[position + 1 :])
            return published, False
        published += 1
    return published, len(ids) == batch_size


def prune(*, older_than: timedelta | None = None) -> int:
    """Delete rows published longer ago than the retention period."""
    older_than = older_than or timedelta(days=settings.SHOPFLOW_OUTBOX_RETENTION_DAYS)
    deleted, _ = OutboxMessage.objects.filter(published_at__lt=timezone.now() - older_than).delete()
    return deleted


def pending_count() -> int:
    return OutboxMessage.objects.filter(published_at__isnull=True).count()


def _claimable(now):
    return OutboxMessage.objects.filter(published_at__isnull=True).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )


def _claim(queryset) -> int:
    lease = timedelta(seconds=settings.SHOPFLOW_OUTBOX_LEASE_SECONDS)
    return queryset.update(locked_until=timezone.now() + lease, attempts=F("attempts") + 1)


def _release(ids) -> None:
    if ids:
        OutboxMessage.objects.filter(pk__in=ids, published_at__isnull=True).update(
            locked_until=None
        )


def _publish(message: OutboxMessage) -> bool:
    global _broker_down_until
    from .celery import app

    try:
        # No retry loop here: a request thread must not wait on a dead broker. The relay
        # is the retry.
        app.send_task(
            message.task_name,
            args=message.args,
            kwargs=message.kwargs,
            task_id=str(message.task_id),
            retry=False,
        )
    except Exception as exc:
        logger.warning(
            "outbox: publishing %s (row %s) failed, the relay will retry: %s",
            message.task_name,
            message.pk,
            exc,
        )
        _broker_down_until = time.monotonic() + BROKER_DOWN_PAUSE_SECONDS
        OutboxMessage.objects.filter(pk=message.pk).update(
            locked_until=None, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return False
    _broker_down_until = 0.0
    OutboxMessage.objects.filter(pk=message.pk).update(
        published_at=timezone.now(), locked_until=None, last_error=""
    )
    return True
