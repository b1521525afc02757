"""Outbound webhooks: the endpoints staff register, one delivery per event and endpoint,
and every attempt at it (Standard Webhooks 1.0; docs/webhooks.md)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.deadline import Deadline
from core.public_http import Target, public_target
from worker.models import Job


class Endpoint(models.Model):
    """Where staff want some of the shop's events POSTed, signed with its secret."""

    url = models.CharField(max_length=1000)
    events = models.JSONField(default=list)  # event types, e.g. ["order.created"]
    description = models.CharField(max_length=500, blank=True, default="")
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=100)  # whsec_ + base64 of 32 random bytes
    # After a rotation the previous secret signs too, until then (the database's clock).
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # Since the first failed attempt after the last success: 5 days of it disable it.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.url

    @staticmethod
    def url_target(url: str, *, deadline: Deadline | None = None) -> Target:
        """Where `url` may lead, at save time and again at each attempt (resolved within its
        `deadline`): the shop's SSRF guard (core.public_http), plain http to loopback only
        with SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK. AddressRefused (AddressUnresolved) naming why
        not."""
        allowed = settings.SHOPFLOW_WEBHOOKS_ALLOW_LOOPBACK
        return public_target(url, loopback_allowed=allowed, deadline=deadline)


# The kind of job (worker.jobs) that is a delivery (webhooks.tasks.deliver).
JOB_KIND = "webhook_delivery"


class DeliveryManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=JOB_KIND)


class Delivery(Job):
    """One event for one endpoint: a job of JOB_KIND (worker.jobs), its key the
    `webhook-id` of every attempt, its concurrency key its endpoint's id, its payload the
    event's body, fixed when the event happened."""

    class Status(models.TextChoices):  # as the API shows its job's: done is "delivered"
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    objects = DeliveryManager()

    class Meta:
        proxy = True
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.key} {self.event_type}"

    @property
    def endpoint_id(self) -> int:
        return int(self.concurrency_key)

    @property
    def event_type(self) -> str:
        return self.payload["type"]

    @property
    def delivery_status(self) -> str:
        """Its job's status as the API words it."""
        return self.Status.DELIVERED if self.status == Job.Status.DONE else self.status

    @property
    def next_attempt_at(self):
        return self.due_at if self.status == Job.Status.PENDING else None


class Attempt(models.Model):
    """One POST of a delivery: what came back, how long it took, or what went wrong."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_records")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.delivery_id} at {self.at}: {self.status_code or self.error}"
