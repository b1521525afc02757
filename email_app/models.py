from django.db import models
from django.utils import timezone


class SentEmail(models.Model):
    """One row per email sent, written once the mail server took it. Unique (kind, key):
    an email is sent once (email_app.services.sending)."""

    class Kind(models.TextChoices):
        CONFIRMATION_EMAIL = "confirmation_email", "Order confirmation"
        CANCELLATION_EMAIL = "cancellation_email", "Order cancelled"
        SHIPPING_EMAIL = "shipping_email", "Order shipped"
        WELCOME = "welcome", "Welcome"
        LOW_STOCK_ALERT = "low_stock_alert", "Low-stock alert"
        # One a window, naming every order flagged since the last (key: the window's start).
        DUPLICATE_ORDERS_ALERT = "duplicate_orders_alert", "Duplicate-orders alert"
        # notifications' digest of a person's unread notifications (key: its deliveries).
        NOTIFICATION_DIGEST = "notification_digest", "Notification digest"
        # A password reset link (key: "<user id>:<request id>", accounts' request).
        PASSWORD_RESET = "password_reset", "Password reset"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    key = models.CharField(max_length=100, help_text="What the email is about, e.g. the order id.")
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=255)
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="sentemail_once_per_kind_and_key"),
        ]

    def __str__(self):
        return f"{self.kind}:{self.key}"
