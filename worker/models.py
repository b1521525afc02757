import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class OutboxMessage(models.Model):
    """A task to publish, written in the same transaction as the change that asks for it,
    published by the relay once committed (worker.outbox). Its times (`locked_until`,
    `not_before`) are the database's clock, whichever host writes or reads them."""

    # A retry's row keeps its task's id, as Celery's own retry does (worker.tasks_base).
    task_id = models.UUIDField(default=uuid.uuid4, db_index=True, editable=False)
    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_default=Now())  # the database's clock
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A relay holds a row until then; a relay that died mid-pass lets it go by itself.
    locked_until = models.DateTimeField(null=True, blank=True)
    # Not published before then: a task's retry waits here, not in the broker, so that no
    # message waits in the broker longer than a task runs (worker.tasks_base).
    not_before = models.DateTimeField(null=True, blank=True)
    # The task's retries before this message (Celery's request.retries in the task).
    retries = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # Deliveries of this message after the first (the broker gives back what a worker lost):
    # past SHOPFLOW_TASK_MAX_REDELIVERIES the message is dead-lettered, not run again.
    redeliveries = models.PositiveIntegerField(default=0)
    # The trace of the request that asked for it (core.telemetry.trace_carrier): the
    # relay publishes it inside that trace, however much later. Empty when tracing is off.
    trace_context = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(published_at__isnull=True), name="outbox_pending_idx"
            ),
        ]

    def __str__(self):
        state = "published" if self.published_at else "pending"
        return f"{self.task_name}{tuple(self.args)} [{state}]"


class DeadLetter(models.Model):
    """A task that failed for good: permanent error, or transient ones past the retries."""

    task_id = models.CharField(max_length=255, db_index=True)
    task_name = models.CharField(max_length=200, db_index=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=100, blank=True, default="")
    exception = models.TextField()
    traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    requeued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.task_name} {self.task_id}"


class BeatLease(models.Model):
    """Which beat sends the schedule (worker.beat): one row, held by one beat until
    `expires_at`, by the database's clock, and renewed at each of its ticks."""

    name = models.CharField(primary_key=True, max_length=50)
    holder = models.CharField(max_length=200)  # host, pid and a nonce of the beat holding it
    expires_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name}: {self.holder} until {self.expires_at}"
