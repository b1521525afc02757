"""The transactional outbox: a task enqueued in the caller's transaction is published once
that transaction commits, and a relay publishes what the broker refused.

    with transaction.atomic():
        order = ...
        enqueue_on_commit(send_confirmation_email, order.pk)   # a row, in this transaction

A rollback leaves no row, so nothing is sent. A commit publishes the row right away; if
the broker is down the row stays pending and `relay()` (beat, every 5 s) publishes it
later. A row is published at least once; tasks are idempotent, which makes that exactly
once in effect.

Rows are written with the publisher's lease already taken (`locked_until`), so the relay
leaves them alone without a claim statement; if this process dies before publishing, the
lease runs out and the relay takes them over. Inside a request the publish waits until
the response is out (core.after_response): the client does not wait for the broker.
Receivers of a domain signal enqueue inside core.signals.isolated_inserts(): their
rows go in with one INSERT, isolated from each other, and are published in one batch.
"""

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.after_response import call_after_response
from core.signals import insert_isolated

from . import locks
from .celery import app
from .models import OutboxMessage

logger = logging.getLogger(__name__)

# After a failed publish, publishing after commit in this process stands aside for a few
# seconds and leaves rows to the relay: a checkout must not wait on a dead broker each time.
BROKER_DOWN_PAUSE_SECONDS = 5.0
_broker_down_until = 0.0


def enqueue_on_commit(task, *args, **kwargs) -> OutboxMessage | None:
    """Record `task(*args, **kwargs)` in the caller's transaction; publish it once that
    commits. `task` is a Celery task or its registered name. Arguments must be JSON: a
    payload that is not fails here, in the caller's transaction, not later in a worker.

    With CELERY_TASK_ALWAYS_EAGER (the benchmark's synchronous baseline only) the task
    runs here instead, in the caller's transaction, as `.delay()` does in eager mode."""
    name = getattr(task, "name", task)
    try:
        json.dumps([args, kwargs])
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Arguments of {name} must be JSON serialisable: {exc}") from exc
    if settings.CELERY_TASK_ALWAYS_EAGER:
        with transaction.atomic():  # a savepoint, as a receiver's own work has
            app.tasks[name].apply(args=args, kwargs=kwargs)
        return None
    message = OutboxMessage(
        task_name=name, args=list(args), kwargs=kwargs, locked_until=_lease_end(), attempts=1
    )
    insert_isolated([message], on_commit=publish_after_commit)
    return message


def publish_after_commit(messages: list[OutboxMessage]) -> None:
    """Publish committed rows: after the response inside a request, at once elsewhere."""
    if not call_after_response(lambda: publish_messages(messages)):
        publish_messages(messages)


def publish_messages(messages: list[OutboxMessage], *, after_failure_pause: bool = True) -> int:
    """Publish rows this process holds the lease of, over one producer connection, and mark
    those that went in one UPDATE. Returns how many went; never raises: whatever did not
    go is released to the relay. Within a few seconds of a failed publish, rows go
    straight to the relay, unless `after_failure_pause` is off (the relay itself)."""
    global _broker_down_until
    if not messages:
        return 0
    sent: list[OutboxMessage] = []
    if after_failure_pause and time.monotonic() < _broker_down_until:
        error = "broker was down moments ago; left to the relay"
    else:
        error = _send(messages)
        sent = [] if error else messages
        _broker_down_until = time.monotonic() + BROKER_DOWN_PAUSE_SECONDS if error else 0.0
    try:
        if sent:
            OutboxMessage.objects.filter(task_id__in=[m.task_id for m in sent]).update(
                published_at=timezone.now(), locked_until=None, last_error=""
            )
        else:
            _release([m.task_id for m in messages], error)
    except Exception:
        # The rows keep their lease and the relay publishes them when it runs out (a
        # second publication of what went is harmless: tasks are idempotent).
        logger.exception("outbox: could not mark %s row(s)", len(messages))
    return len(sent)


def _send(messages: list[OutboxMessage]) -> str:
    """Send the messages to the broker; "" when they went, else the error."""
    try:
        # One connection and, on Redis, one pipelined round trip for all of them
        # (kombu's Producer.batch; other transports publish one by one). No retry loop:
        # a request thread must not wait on a dead broker; the relay retries.
        with app.producer_or_acquire() as producer, producer.batch():
            for message in messages:
                app.send_task(
                    message.task_name,
                    args=message.args,
                    kwargs=message.kwargs,
                    task_id=str(message.task_id),
                    producer=producer,
                    retry=False,
                )
    except Exception as exc:
        # Nothing counts as sent, though part of a batch may have gone: the relay
        # publishes those again, which tasks absorb (they are idempotent).
        error = f"{type(exc).__name__}: {exc}"[:2000]
        logger.warning(
            "outbox: publishing %s task(s) failed, the relay will retry them: %s",
            len(messages),
            error,
        )
        return error
    return ""


def relay(*, rows_per_claim: int | None = None, budget_seconds: float = 4.0) -> int:
    """Publish pending rows, oldest first, claim after claim for up to `budget_seconds`
    (under beat's 5 s interval), so a backlog left by an outage drains quickly. Returns
    how many went out; stops at the first broker error, the rest stay pending."""
    rows_per_claim = rows_per_claim or settings.SHOPFLOW_OUTBOX_BATCH_SIZE
    deadline = time.monotonic() + budget_seconds
    published = 0
    while True:
        claimed = _claim(rows_per_claim)
        sent = publish_messages(claimed, after_failure_pause=False)
        published += sent
        if sent < rows_per_claim or time.monotonic() >= deadline:
            break
    if published:
        logger.info("outbox relay published %s message(s)", published)
    return published


def _claim(limit: int) -> list[OutboxMessage]:
    """Take up to `limit` pending rows whose lease ran out, with a lease of this relay's:
    relays running at once take disjoint rows, and rows of a relay that died are taken over
    when its lease ends."""
    with transaction.atomic():
        ids = list(locks.outbox_rows_to_relay(now=timezone.now(), limit=limit))
        if ids:
            OutboxMessage.objects.filter(pk__in=ids).update(
                locked_until=_lease_end(), attempts=F("attempts") + 1
            )
    return list(OutboxMessage.objects.filter(pk__in=ids).order_by("pk")) if ids else []


def prune(*, older_than: timedelta | None = None) -> int:
    """Delete rows published longer ago than the retention period."""
    older_than = older_than or timedelta(days=settings.SHOPFLOW_OUTBOX_RETENTION_DAYS)
    deleted, _ = OutboxMessage.objects.filter(published_at__lt=timezone.now() - older_than).delete()
    return deleted


def redelivery_record(*, task_id: str) -> int:
    """Count one more delivery of the message of `task_id` after its first; returns how
    many there have been (0 for a message that no outbox row knows)."""
    rows = OutboxMessage.objects.filter(task_id=task_id)
    if not rows.update(redeliveries=F("redeliveries") + 1):
        return 0
    return rows.values_list("redeliveries", flat=True).first() or 0


def pending_count() -> int:
    return OutboxMessage.objects.filter(published_at__isnull=True).count()


def _lease_end():
    return timezone.now() + timedelta(seconds=settings.SHOPFLOW_OUTBOX_LEASE_SECONDS)


def _release(task_ids, error: str) -> None:
    OutboxMessage.objects.filter(task_id__in=task_ids, published_at__isnull=True).update(
        locked_until=None, last_error=error
    )
