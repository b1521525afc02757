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


class Job(models.Model):
    """One piece of work that must happen (docs/architecture.md, "The job"): written in the
    transaction of the change that asks for it, claimed by a worker of its kind under a
    lease on the database's clock, done, retried at its kind's next due time, or failed
    after its kind's last attempt. A message on the broker only says a kind has due jobs
    (worker.dispatcher)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=64)
    # What the job is about, unique within its kind (an order's id): its task reloads it.
    key = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    due_at = models.DateTimeField(db_default=Now())  # the database's clock
    attempts = models.PositiveIntegerField(default=0)  # counted when claimed
    # The claim of the attempt running it: only that attempt may record its end.
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_id = models.UUIDField(null=True, blank=True, editable=False)
    # At most the kind's `concurrency` leases at once per value (a webhook's endpoint).
    concurrency_key = models.CharField(max_length=200, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(db_default=Now())
    ended_at = models.DateTimeField(null=True, blank=True)
    # The trace of the request that asked for it (core.telemetry.trace_carrier).
    trace_context = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="job_kind_key_unique")]
        indexes = [
            # What the dispatcher and the claims read: the pending jobs of a kind by due time.
            models.Index(
                fields=["kind", "due_at"], condition=Q(status="pending"), name="job_pending_idx"
            ),
            # The failed ones (the dead letters: few).
            models.Index(fields=["kind"], condition=Q(status="failed"), name="job_failed_idx"),
            # What retention deletes: the ended ones by age.
            models.Index(fields=["ended_at"], condition=~Q(status="pending"), name="job_ended_idx"),
        ]

    def __str__(self):
        return f"{self.kind}:{self.key} [{self.status}]"

    @property
    def lost(self) -> bool:
        """Claimed before, and that attempt never recorded its end: it lost its worker."""
        return self.lease_id is not None
