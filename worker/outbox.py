"""The transactional outbox: a task enqueued in the caller's transaction
(`enqueue_on_commit`) is published by the relay (`manage.py relay_outbox`) once that
transaction has committed, so a rollback sends nothing and a dead broker costs a checkout
nothing. How the relay claims, joins and publishes rows: docs/architecture.md, "Why an
outbox"."""

import json
import logging
import threading
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import DurationField, ExpressionWrapper, F, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.clock import db_now
from core.liveness import liveness_vouch
from core.signals import insert_isolated
from core.telemetry import span_continuing, trace_carrier

from . import locks
from .celery import app
from .models import OutboxMessage

logger = logging.getLogger(__name__)

# After a pass the broker or the database refused, the relay waits this long.
FAILURE_PAUSE_SECONDS = 5.0
RECONNECT_ONCE = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}


def enqueue_on_commit(task, *args, **kwargs) -> OutboxMessage:
    """Record `task(*args, **kwargs)` in the caller's transaction; the relay publishes it
    once that commits. `task` is a Celery task or its registered name. Arguments must be
    JSON: a payload that is not fails here, in the caller's transaction, not later."""
    name = getattr(task, "name", task)
    try:
        json.dumps([args, kwargs])
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Arguments of {name} must be JSON serialisable: {exc}") from exc
    message = OutboxMessage(
        task_name=name, args=list(args), kwargs=kwargs, trace_context=trace_carrier()
    )
    insert_isolated([message])
    return message


def retry_enqueue(
    task, *, task_id: str, args: list, kwargs: dict, retries: int, countdown: float
) -> None:
    """Record the retry of `task` (its `retries`-th, under its id `task_id`, as Celery's
    own retry keeps it) in the caller's transaction, due in `countdown` seconds by the
    database's clock: the relay publishes it then. The retry waits in the outbox, not in
    the broker as a countdown message, so that no message waits in the broker longer than
    a task runs (the visibility timeout stays short)."""
    OutboxMessage.objects.create(
        task_id=task_id,
        task_name=task.name,
        args=list(args),
        kwargs=dict(kwargs),
        retries=retries,
        not_before=db_now(plus_seconds=countdown),
        trace_context=trace_carrier(),
    )


class Message(NamedTuple):
    """One message to the broker: the rows it publishes, and what it carries."""

    rows: list[OutboxMessage]
    args: list
    kwargs: dict


def messages_for(rows: list[OutboxMessage]) -> list[Message]:
    """The messages that publish `rows`, in order: a row of its own each, except first
    tries of a task with a `batch_max`, whose lists are joined into messages of up to that
    many items (a row's list is never split). A retry (`not_before`) goes out as its task
    recorded it: an order sent out alone stays alone."""
    messages: list[Message] = []
    open_batches: dict[str, Message] = {}
    for row in rows:
        most = int(getattr(app.tasks.get(row.task_name), "batch_max", 0) or 0)
        one_list = len(row.args) == 1 and isinstance(row.args[0], list) and not row.kwargs
        if not most or not one_list or row.not_before is not None:
            messages.append(Message([row], list(row.args), dict(row.kwargs)))
            continue
        batch = open_batches.get(row.task_name)
        if batch is None or len(batch.args[0]) + len(row.args[0]) > most:
            batch = open_batches[row.task_name] = Message([], [[]], {})
            messages.append(batch)
        batch.rows.append(row)
        batch.args[0].extend(row.args[0])
    return messages


class RelayPass(NamedTuple):
    claimed: int
    published: int

    @property
    def broker_failed(self) -> bool:
        return self.published < self.claimed


def relay_forever(*, stop: threading.Event, each_pass=None) -> None:
    """The relay service's loop (`manage.py relay_outbox`) until `stop` is set. It looks
    for rows every SHOPFLOW_OUTBOX_POLL_MS; after a pass that published, it lingers
    SHOPFLOW_OUTBOX_LINGER_MS, so that a busy shop's rows gather into fewer messages (a
    full claim goes on at once: that backlog has gathered already); after a failure, it
    waits FAILURE_PAUSE_SECONDS."""
    rows_per_claim = settings.SHOPFLOW_OUTBOX_BATCH_SIZE
    while not stop.is_set():
        liveness_vouch()  # a pass that hangs (a database that stopped answering) lapses
        pause = settings.SHOPFLOW_OUTBOX_POLL_MS / 1000
        try:
            if each_pass is not None:
                each_pass()
            if locks.outbox_rows_due().exists():  # one cheap read of the pending rows' index
                done = relay_once(rows_per_claim=rows_per_claim)
                if done.broker_failed:
                    pause = FAILURE_PAUSE_SECONDS
                elif done.claimed == rows_per_claim:
                    pause = 0.0
                elif done.published:
                    pause = settings.SHOPFLOW_OUTBOX_LINGER_MS / 1000
        except DatabaseError:
            logger.exception("outbox relay: the database failed; trying again shortly")
            close_old_connections()  # a broken connection is made again at the next pass
            pause = FAILURE_PAUSE_SECONDS
        except Exception:
            logger.warning("dispatcher: the broker failed; trying again shortly", exc_info=True)
            pause = FAILURE_PAUSE_SECONDS
        stop.wait(pause)


def relay_once(*, rows_per_claim: int | None = None) -> RelayPass:
    """Claim up to `rows_per_claim` pending rows, publish them (see messages_for) over one
    producer connection, and mark those that went in one UPDATE. Never raises for the
    broker: whatever did not go is released to the next relay pass."""
    rows = _claim(rows_per_claim or settings.SHOPFLOW_OUTBOX_BATCH_SIZE)
    if not rows:
        return RelayPass(claimed=0, published=0)
    error = _send(messages_for(rows))
    try:
        held = OutboxMessage.objects.filter(pk__in=[row.pk for row in rows])
        if error:  # released to the next pass (one another relay published stays as it is)
            held.filter(published_at__isnull=True).update(locked_until=None, last_error=error)
        else:
            held.update(published_at=db_now(), locked_until=None, last_error="")
    except Exception:
        # The rows keep their lease and a relay publishes them when it runs out (a
        # second publication of what went is harmless: tasks are idempotent).
        logger.exception("outbox: could not mark %s row(s)", len(rows))
    return RelayPass(claimed=len(rows), published=0 if error else len(rows))


def _send(messages: list[Message]) -> str:
    """Send the messages to the broker; "" when they went, else the error."""
    try:
        # One connection and, on Redis, one pipelined round trip for all of them
        # (kombu's Producer.batch; other transports publish one by one). A connection the
        # broker dropped since its last use is made again at once (kombu's retry policy);
        # a broker that stays down is the next relay pass's to retry.
        with app.producer_or_acquire() as producer, producer.batch():
            for message in messages:
                task_name = message.rows[0].task_name
                carriers = [row.trace_context for row in message.rows]
                with span_continuing(f"outbox publish {task_name}", carriers):
                    # The first row's task id and retries: a message published again (a
                    # relay that died before marking it) is the same task to the result
                    # backend and to the redelivery count.
                    app.send_task(
                        task_name,
                        args=message.args,
                        kwargs=message.kwargs,
                        task_id=str(message.rows[0].task_id),
                        retries=message.rows[0].retries,
                        producer=producer,
                        retry=True,
                        retry_policy=RECONNECT_ONCE,
                    )
    except Exception as exc:
        # Nothing counts as sent, though part of a batch may have gone: the relay
        # publishes those again, which tasks absorb (they are idempotent).
        error = f"{type(exc).__name__}: {exc}"[:2000]
        logger.warning("outbox: publishing %s message(s) failed: %s", len(messages), error)
        return error
    return ""


def relay_is_behind() -> bool:
    """Whether rows have been due longer than a relay may hold them: the relay is behind,
    or the broker refuses it (by the database's clock)."""
    waited = db_now(plus_seconds=-settings.SHOPFLOW_OUTBOX_LEASE_SECONDS)
    return (
        locks.outbox_rows_due()
        .filter(Q(not_before__lt=waited) | Q(not_before__isnull=True, created_at__lt=waited))
        .exists()
    )


def publication_lateness(*, within_seconds: float) -> float:
    """The longest any row published in the last `within_seconds` (the database's clock)
    waited past its due time, in seconds: what a broker outage or a dead relay added to
    the time from a row's due time to its message in the queue."""
    late = ExpressionWrapper(
        F("published_at") - Coalesce("not_before", "created_at"), output_field=DurationField()
    )
    longest = OutboxMessage.objects.filter(
        published_at__gte=db_now(plus_seconds=-within_seconds)
    ).aggregate(longest=Max(late))["longest"]
    return max(longest.total_seconds(), 0.0) if longest else 0.0


def _claim(limit: int) -> list[OutboxMessage]:
    """Take up to `limit` pending rows whose lease ran out, with a lease of this relay's:
    relays running at once take disjoint rows, and rows of a relay that died are taken over
    when its lease ends."""
    with transaction.atomic():
        rows = list(locks.outbox_rows_to_relay(limit=limit))
        if rows:
            OutboxMessage.objects.filter(pk__in=[row.pk for row in rows]).update(
                locked_until=db_now(plus_seconds=settings.SHOPFLOW_OUTBOX_LEASE_SECONDS),
                attempts=F("attempts") + 1,
            )
    return rows


def outbox_prune() -> int:
    """Delete rows published longer ago than the retention period."""
    older_than = timedelta(days=settings.SHOPFLOW_OUTBOX_RETENTION_DAYS)
    deleted, _ = OutboxMessage.objects.filter(published_at__lt=timezone.now() - older_than).delete()
    return deleted


def redelivery_record(*, task_id: str, task_name: str, args, kwargs) -> int:
    """Count one more delivery of the message of `task_id` after its first; returns how
    many there have been, its latest row's count. A message no outbox row knows (beat's,
    sent to the broker directly) gets a row, published, to be counted on."""
    rows = OutboxMessage.objects.filter(task_id=task_id)
    if not rows.update(redeliveries=F("redeliveries") + 1):
        OutboxMessage.objects.create(
            task_id=task_id,
            task_name=task_name,
            args=list(args or []),
            kwargs=dict(kwargs or {}),
            published_at=db_now(),
            redeliveries=1,
        )
        return 1
    return rows.values_list("redeliveries", flat=True).first() or 0
