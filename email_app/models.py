from django.db import models


class SentEmail(models.Model):
    """One row per email that went out. Unique (kind, key) is the idempotency guard: a
    task finding its row sends nothing."""

    class Kind(models.TextChoices):
        ORDER_CONFIRMATION = "order_confirmation", "Order confirmation"
        WELCOME = "welcome", "Welcome"
        LOW_STOCK_ALERT = "low_stock_alert", "Low-stock alert"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    key = models.CharField(max_length=100, help_text="What the email is about, e.g. the order id.")
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=255)
    sent_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="sentemail_once_per_kind_and_key"),
        ]

    def __str__(self):
        return f"{self.kind}:{self.key}"
