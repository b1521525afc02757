from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


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
    # What its task cannot reload, fixed when it was asked for (a webhook's event).
    payload = models.JSONField(null=True, blank=True)

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
            # A concurrency key's jobs, newest first (a webhook endpoint's deliveries).
            models.Index(
                fields=["kind", "concurrency_key", "-id"],
                condition=~Q(concurrency_key=""),
                name="job_concurrency_key_idx",
            ),
            # What retention deletes: the ended ones by age.
            models.Index(fields=["ended_at"], condition=~Q(status="pending"), name="job_ended_idx"),
        ]

    def __str__(self):
        return f"{self.kind}:{self.key} [{self.status}]"

    @property
    def lost(self) -> bool:
        """Claimed before, and that attempt never recorded its end: it lost its worker."""
        return self.lease_id is not None


def held_by_an_attempt() -> Q:
    """Jobs an attempt holds: pending, their lease still running (the database's clock)."""
    return Q(status=Job.Status.PENDING, leased_until__gte=Now())


class DeadLetterManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(status=Job.Status.FAILED)


class DeadLetter(Job):
    """The failed jobs: the dead letters an operator reads and re-drives (the admin)."""

    objects = DeadLetterManager()

    class Meta:
        proxy = True
        ordering = ["-ended_at", "-id"]
