"""Where each consequence of an order stands."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.clock import db_now


def side_effect_due(*, after_seconds: float = 0.0):
    """When a side effect opened (or set back to pending) now should be done by, or one
    whose retry is due in `after_seconds`; past it, the reconciler re-drives it. The
    database's clock (core.clock): the reconciler on another host compares it."""
    return db_now(plus_seconds=after_seconds + settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS)


def side_effect_deadline():
    """The same, as the field's default for a row made outside the services (a factory,
    the admin): this host's clock."""
    return timezone.now() + timedelta(seconds=settings.SHOPFLOW_SIDE_EFFECT_DEADLINE_SECONDS)


class OrderSideEffect(models.Model):
    """One consequence of an order: created pending at checkout for every kind the apps
    registered (side_effects.registry), set done by the task that performs it (in the
    task's own transaction), failed on dead letter; a pending one past its `deadline` is
    re-driven by the reconciler (docs/reliability.md, "The reconciler")."""

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
    # Attempts started and not ended: counted before the work, so those that lost their
    # worker add up (side_effects.base); an attempt that ends (a retry scheduled, failed)
    # starts the count over: poison is the last attempts all lost.
    open_attempts = models.PositiveSmallIntegerField(default=0)
    # The message whose run last ended it (a retry scheduled, failed): that message,
    # delivered again after its worker died, does not run it a second time.
    ended_in = models.CharField(max_length=64, blank=True, default="")
    # The checkout's trace (core.telemetry.trace_carrier): a re-drive continues the
    # order's trace, not the reconciler's. Empty when tracing is off.
    trace_context = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "kind"], name="order_side_effect_unique"),
        ]
        indexes = [
            # The work still to do, by kind: what /metrics counts a scrape
            # (side_effects.metrics), not the history.
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
