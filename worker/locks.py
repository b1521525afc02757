"""Every row lock the worker takes: named querysets, in primary-key order, for the
caller's transaction."""

from django.db.models import Q, QuerySet

from .models import DeadLetter, OutboxMessage


def outbox_rows_to_relay(*, now, limit: int) -> QuerySet:
    """The ids of up to `limit` unpublished rows that no publisher holds a lease on, oldest
    first; rows another relay has locked are skipped (it is publishing them)."""
    return (
        OutboxMessage.objects.filter(published_at__isnull=True)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .select_for_update(skip_locked=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def dead_letters_to_requeue(*, dead_letter_ids) -> QuerySet[DeadLetter]:
    """These dead letters, unless requeued already; two requeues at once take turns."""
    return (
        DeadLetter.objects.select_for_update()
        .filter(pk__in=dead_letter_ids, requeued_at__isnull=True)
        .order_by("pk")
    )
