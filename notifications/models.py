"""In-app notifications: what a user should know, shown in the app and pushed live."""

from django.conf import settings
from django.db import models


class Notification(models.Model):
    """Something a user should know, shown in the app and pushed live to their open tabs.

    Written by receivers only, in the transaction of what it is about (a rolled-back order
    notifies no one), and published to the streams after commit (notifications.live)."""

    class Kind(models.TextChoices):
        ORDER_PLACED = "order_placed", "Order placed"
        MESSAGE = "message", "New message"
        LOW_STOCK = "low_stock", "Low stock"
        SIDE_EFFECT_FAILED = "side_effect_failed", "Side effect failed"
        DUPLICATE_ORDER = "duplicate_order", "Duplicate order"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.CharField(max_length=500)
    # What it is about, as a path the front end can open (an order, a product).
    link = models.CharField(max_length=200, blank=True, default="")
    is_read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # "My notifications, newest first" and "my unread ones": one index range each.
            models.Index(fields=["recipient", "is_read", "-id"], name="notification_unread_idx"),
            models.Index(fields=["recipient", "-id"], name="notification_recipient_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.recipient_id}: {self.message}"
