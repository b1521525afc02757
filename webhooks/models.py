"""Outbound webhooks: the endpoints staff register, one delivery per event and endpoint,
and every attempt at it (Standard Webhooks 1.0; docs/webhooks.md)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.deadline import Deadline
from core.public_http import Target, public_target


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


# The kind of job (worker.jobs) that sends a delivery: its key the delivery's id, its
# concurrency key its endpoint's id (webhooks.tasks.deliver).
JOB_KIND = "webhook_delivery"


class Delivery(models.Model):
    """One event for one endpoint: its id is the `webhook-id` of every attempt, the data
    fixed when the event happened. Where it stands (due, leased, attempts, ended) is its
    job's (JOB_KIND, key = its id); the API reads it there (webhooks.selectors)."""

    class Status(models.TextChoices):  # as the API shows its job's: done is "delivered"
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, editable=False)  # msg_...
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()  # the event's `data`
    created_at = models.DateTimeField(default=timezone.now)  # the event's time

    class Meta:
        ordering = ["-id"]  # the ids sort by time: newest first
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["endpoint", "id"], name="webhook_delivery_endpoint_idx"),
        ]

    def __str__(self):
        return f"{self.pk} {self.event_type}"


class Attempt(models.Model):
    """One POST of a delivery: what came back, how long it took, or what went wrong."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.delivery_id} at {self.at}: {self.status_code or self.error}"
