"""Dead letters: record a task that failed for good, and put selected ones back."""

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from .celery import app
from .models import DeadLetter
from .outbox import enqueue
from .tasks_base import ReliableTask

logger = logging.getLogger(__name__)


def dead_letter_record(
    *, task_id, task_name, args, kwargs, queue, exception, traceback, attempts
) -> DeadLetter:
    return DeadLetter.objects.create(
        task_id=task_id or "",
        task_name=task_name,
        args=args,
        kwargs=kwargs,
        queue=queue or "",
        exception=exception[:10_000],
        traceback=traceback[:50_000],
        attempts=attempts,
    )


def dead_letters_requeue(*, dead_letter_ids) -> int:
    """Enqueue the tasks of these dead letters again, through the outbox, once each: a
    letter already requeued is skipped. The task's `on_requeue` hook runs in the same
    transaction (an order's side effect goes back to pending). Returns how many."""
    # The tasks' hooks are needed by name: a web process may not have imported them yet.
    autodiscover_modules("tasks")
    requeued = 0
    with transaction.atomic():
        letters = DeadLetter.objects.select_for_update().filter(
            pk__in=dead_letter_ids, requeued_at__isnull=True
        )
        for letter in letters:
            enqueue(letter.task_name, *letter.args, **letter.kwargs)
            task = app.tasks.get(letter.task_name)
            if isinstance(task, ReliableTask):
                task.on_requeue(args=letter.args, kwargs=letter.kwargs)
            requeued += 1
        letters.update(requeued_at=timezone.now())
    return requeued
