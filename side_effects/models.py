"""Where each consequence of an order stands."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def side_effect_deadline():
    """When a side effect created (or set back to pending) now should be done by; past it,
    the reconciler re-drives it."""
    return timezone.now() + timedelta(seconds=settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS)


class OrderSideEffect(models.Model):
    """One consequence of an order: created pending at checkout for every kind the apps
    registered (side_effects.registry), set done by the task that performs it (in the
    task's own transaction), failed on dead letter.

    A pending one past its `deadline` is re-driven by the reconciler (its task enqueued
    again), at most SHOPFLOW_SIDE_EFFECT_MAX_REDRIVES times (`redrives`); then it is
    failed and dead-lettered. A retry the task schedules moves the deadline past it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    order = models.ForeignKey("store.Order", on_delete=models.CASCADE, related_name="side_effects")
    kind = models.CharField(max_length=32, help_text="A kind an app registered.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, default="")
    # When the checkout opened it: the start of its commit-to-done lag (side_effects.metrics).
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deadline = models.DateTimeField(default=side_effect_deadline)
    redrives = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "kind"], name="order_side_effect_unique"),
        ]
        indexes = [
            # The work still to do, oldest first: what a side-effect task takes in batches.
            models.Index(
                fields=["kind", "order"],
                condition=Q(status="pending"),
                name="side_effect_pending_idx",
            ),
            # What the reconciler looks for: pending past the deadline.
            models.Index(
                fields=["deadline"],
                condition=Q(status="pending"),
                name="side_effect_deadline_idx",
            ),
            # What /metrics counts: the failed ones, by kind (few; the index stays small).
            models.Index(
                fields=["kind"], condition=Q(status="failed"), name="side_effect_failed_idx"
            ),
        ]

    def __str__(self):
        return f"{self.order_id}:{self.kind}={self.status}"


class SideEffectLease(models.Model):
    """A live worker holds a message with this side effect's work until `until`, renewing
    it while it does (worker.leases). A pending side effect whose lease lapsed lost its
    worker: the reconciler re-drives it then, without waiting for its `deadline`. Its
    own table, so that writing a lease never locks the side effect a task is claiming."""

    # No constraint in the database: a worker may lease the work of an order deleted a
    # moment ago, and a lease is only ever read beside its side effect.
    order = models.ForeignKey(
        "store.Order", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    kind = models.CharField(max_length=32)
    until = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "kind"], name="side_effect_lease_unique"),
        ]
        indexes = [models.Index(fields=["until"], name="side_effect_lease_until_idx")]

    def __str__(self):
        return f"{self.order_id}:{self.kind} until {self.until}"
