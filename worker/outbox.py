"""The transactional outbox: enqueue a task in the caller's transaction, publish it after
commit, and let a relay publish what the broker refused.

    with transaction.atomic():
        order = ...
        enqueue(send_order_confirmation, order.pk)   # a row, in this transaction

A rollback leaves no row, so nothing is sent. A commit publishes the row right away; if
the broker is down the row stays pending and `relay()` (run by beat) publishes it later.
A row is published at least once; tasks are idempotent, which makes that exactly once
in effect.

The hot path costs two statements whatever the number of tasks: inside `batch()` (the
block in which a signal's receivers run) enqueues are collected and written in one
INSERT, and after commit they are published together and marked in one UPDATE. Rows are
written with the publisher's lease already taken (`locked_until`), so the relay leaves
them alone without a claim statement; if this process dies before publishing, the lease
runs out and the relay takes the rows over.

Inside an HTTP request the publish waits for the response: what the request committed is
published when the server closes the response (Django's request_finished), after the
client has it, so the broker round trip and the UPDATE cost the client nothing. The rows
are committed by then; only the publish moves.
"""

import contextlib
import json
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from lib.db import insert_rows, update_rows

from .models import OutboxMessage

logger = logging.getLogger(__name__)

# After a failed publish, after-commit publishing in this process stands aside for a few
# seconds and leaves rows to the relay: a checkout must not wait on a dead broker each time.
BROKER_DOWN_PAUSE_SECONDS = 5.0
_broker_down_until = 0.0

_batches = threading.local()


class _ResponseHold(threading.local):
    """Rows committed during the current request, published once its response is out,
    and other after-response work (`call_after_response`); None outside a request."""

    messages: list | None = None
    callbacks: list | None = None


_held = _ResponseHold()


def enqueue(task, *args, **kwargs) -> OutboxMessage | None:
    """Record `task(*args, **kwargs)` in the current transaction; publish it on commit.

    `task` is a Celery task or its registered name. Arguments must be JSON: a payload
    that is not fails here, in the caller's transaction, not later in a worker. Inside a
    `batch()` the row is written when the batch ends, with the batch's other rows.
    """
    name = task if isinstance(task, str) else task.name
    try:
        json.dumps([args, kwargs])
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Arguments of {name} must be JSON serialisable: {exc}") from exc
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return _run_eagerly(name, args, kwargs)
    message = OutboxMessage(
        task_name=name, args=list(args), kwargs=kwargs, locked_until=_lease_end(), attempts=1
    )
    if (open_batch := current_batch()) is not None:
        open_batch.messages.append(message)
        return message
    message.save()
    _publish_on_commit([message])
    return message


class Batch:
    """Enqueues collected by `batch()`, written in one INSERT when the block ends, and
    other rows the block's code asked to have written with them (`insert_with`)."""

    def __init__(self):
        self.messages: list[OutboxMessage] = []
        self.rows: list[tuple[list, object]] = []  # (model instances, after_commit)

    def mark(self) -> tuple[int, int]:
        return len(self.messages), len(self.rows)

    def discard_since(self, mark: tuple[int, int]) -> None:
        """Forget what was enqueued or added since `mark` (a receiver that raised)."""
        del self.messages[mark[0] :]
        del self.rows[mark[1] :]

    def insert_with(self, rows: list, *, after_commit=None) -> None:
        """Write these model instances when the batch ends, one INSERT per model for all
        the batch's rows, and call `after_commit(rows)` once they are committed. For the
        receivers of a signal sent in a transaction: no savepoint, no statement of their
        own (see store.signals.IsolatedSignal)."""
        self.rows.append((list(rows), after_commit))

    def write(self) -> None:
        by_model: dict[type, list] = {}
        for rows, _ in self.rows:
            for row in rows:
                by_model.setdefault(type(row), []).append(row)
        for rows in by_model.values():
            insert_rows(rows)
        for rows, after_commit in self.rows:
            if after_commit is not None:
                transaction.on_commit(_bound(after_commit, rows), robust=True)
        if self.messages:
            insert_rows(self.messages)
            _publish_on_commit(self.messages)


def _bound(callback, rows):
    # A closure with the callback's name: Django's robust on_commit logs __qualname__.
    def call():
        callback(rows)

    call.__qualname__ = getattr(callback, "__qualname__", repr(callback))
    return call


def current_batch() -> Batch | None:
    """The innermost open `batch()` of this thread, if any."""
    open_batches = getattr(_batches, "stack", None)
    return open_batches[-1] if open_batches else None


@contextlib.contextmanager
def batch():
    """Collect the block's enqueues and write them in one INSERT at its end (in the caller's
    transaction); after commit they are published together. A block that raises writes
    nothing."""
    stack = _batches.__dict__.setdefault("stack", [])
    current = Batch()
    stack.append(current)
    try:
        yield current
    finally:
        stack.pop()
    current.write()


def _publish_on_commit(messages: list[OutboxMessage]) -> None:
    # A closure, not a functools.partial: Django's robust on_commit logs the callback's
    # __qualname__ when it fails.
    def publish_after_commit():
        if _held.messages is not None:
            _held.messages.extend(messages)  # published after the response
        else:
            publish_messages(messages)

    transaction.on_commit(publish_after_commit, robust=True)


def hold_until_response() -> None:
    """At the start of a request: from now on, rows this thread commits are published
    after the response (`publish_held`)."""
    if _held.messages or _held.callbacks:  # a response the server never closed
        publish_held()
    _held.messages = []
    _held.callbacks = []


def call_after_response(callback) -> bool:
    """Inside a request: run `callback()` once the response is out (with the outbox's
    publish) and return True; outside one, return False (the caller runs it now)."""
    if _held.callbacks is None:
        return False
    _held.callbacks.append(callback)
    return True


def publish_held() -> None:
    """At the end of a request: publish what it committed, now that the server
    has the response. Never raises into the server."""
    messages, _held.messages = _held.messages, None
    callbacks, _held.callbacks = _held.callbacks or [], None
    if messages:
        try:
            publish_messages(messages)
        except Exception:
            # The rows keep their lease; the relay publishes them when it runs out.
            logger.exception("outbox: publishing after the response failed")
    for callback in callbacks:
        try:
            callback()
        except Exception:
            logger.exception("after the response: %r failed", callback)


def _run_eagerly(name: str, args, kwargs) -> None:
    """The benchmark's synchronous baseline: the task runs here, in the caller's request and
    transaction (in a savepoint, as a receiver's own work does), like `.delay()` under
    `task_always_eager`. No row, no broker."""
    from .celery import app

    with transaction.atomic():
        app.tasks[name].apply(args=args, kwargs=kwargs)


def publish_messages(messages: list[OutboxMessage], *, after_failure_pause: bool = True) -> int:
    """Publish rows this process holds the lease of, over one producer connection, and mark
    those that went in one UPDATE. Returns how many went; never raises: whatever did not
    go is released to the relay. Within a few seconds of a failed publish, rows go
    straight to the relay, unless `after_failure_pause` is off (the relay itself)."""
    global _broker_down_until
    if not messages:
        return 0
    sent: list[OutboxMessage] = []
    error = ""
    if after_failure_pause and time.monotonic() < _broker_down_until:
        error = "broker was down moments ago; left to the relay"
    else:
        from .celery import app

        try:
            # One connection and, on Redis, one pipelined round trip for all of them
            # (kombu's Producer.batch; other transports publish one by one). No retry
            # loop: a request thread must not wait on a dead broker; the relay retries.
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
            _broker_down_until = time.monotonic() + BROKER_DOWN_PAUSE_SECONDS
        else:
            sent = messages
            _broker_down_until = 0.0
    try:
        if sent:
            update_rows(
                OutboxMessage,
                values={"published_at": timezone.now(), "locked_until": None, "last_error": ""},
                task_id__in=[m.task_id for m in sent],
            )
        else:
            _release([m.task_id for m in messages], error)
    except Exception:
        # The rows keep their lease and the relay publishes them when it runs out (a
        # second publication of what went is harmless: tasks are idempotent).
        logger.exception("outbox: could not mark %s published row(s)", len(sent))
    return len(sent)


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
    messages = list(OutboxMessage.objects.filter(pk__in=ids).order_by("id"))
    sent = publish_messages(messages, after_failure_pause=False)
    return sent, sent == len(messages) == batch_size


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


def _claimable(now):
    return OutboxMessage.objects.filter(published_at__isnull=True).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )


def _claim(queryset) -> int:
    return queryset.update(locked_until=_lease_end(), attempts=F("attempts") + 1)


def _release(task_ids, error: str) -> None:
    OutboxMessage.objects.filter(task_id__in=task_ids, published_at__isnull=True).update(
        locked_until=None, last_error=error
    )
