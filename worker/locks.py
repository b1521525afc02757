"""Every row lock the worker takes: named querysets, in primary-key order, for the
caller's transaction."""

from django.db.models import Q, QuerySet

from core.clock import db_now

from .models import DeadLetter, OutboxMessage


def outbox_rows_due() -> QuerySet[OutboxMessage]:
    """Unpublished rows that are due (a retry's `not_before` passed) and that no relay
    holds (its `locked_until` passed): by the database's clock (core.clock)."""
    return (
        OutboxMessage.objects.filter(published_at__isnull=True)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=db_now()))
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=db_now()))
    )


def outbox_rows_to_relay(*, limit: int) -> QuerySet[OutboxMessage]:
    """Up to `limit` rows due (outbox_rows_due), oldest first; rows another relay has
    locked are skipped (it is publishing them). The fields a claim changes are deferred:
    read from the database, if asked, once it has changed them."""
    return (
        outbox_rows_due()
        .select_for_update(skip_locked=True)
        .defer("locked_until", "attempts")
        .order_by("pk")[:limit]
    )


def dead_letters_to_requeue(*, dead_letter_ids) -> QuerySet[DeadLetter]:
    """These dead letters, unless requeued already; two requeues at once take turns."""
    return (
        DeadLetter.objects.select_for_update()
        .filter(pk__in=dead_letter_ids, requeued_at__isnull=True)
        .order_by("pk")
    )
