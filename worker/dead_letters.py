"""Dead letters: record a task that failed for good, and put selected ones back."""

import logging

from django.db import transaction
from django.utils import timezone

from . import locks
from .celery import app
from .models import DeadLetter
from .outbox import enqueue_on_commit

logger = logging.getLogger(__name__)


def dead_letter_record(
    *, task_id="", task_name, args, kwargs=None, queue="", exception, traceback="", attempts
) -> DeadLetter:
    return DeadLetter.objects.create(
        task_id=task_id or "",
        task_name=task_name,
        args=args,
        kwargs=kwargs or {},
        queue=queue or "",
        exception=exception[:10_000],
        traceback=traceback[:50_000],
        attempts=attempts,
    )


def dead_letters_requeue(*, dead_letter_ids) -> int:
    """Enqueue the tasks of these dead letters again, through the outbox, once each: a
    letter already requeued is skipped, as is one whose task no longer exists (logged).
    The task's `on_requeue` hook runs in the same transaction (an order's side effect
    goes back to pending). Returns how many."""
    requeued = []
    with transaction.atomic():
        for letter in locks.dead_letters_to_requeue(dead_letter_ids=dead_letter_ids):
            task = app.tasks.get(letter.task_name)
            if task is None:
                logger.error("dead letter %s: no task %s to requeue", letter.pk, letter.task_name)
                continue
            enqueue_on_commit(task, *letter.args, **letter.kwargs)
            task.on_requeue(args=letter.args, kwargs=letter.kwargs)
            requeued.append(letter.pk)
        DeadLetter.objects.filter(pk__in=requeued).update(requeued_at=timezone.now())
    return len(requeued)
