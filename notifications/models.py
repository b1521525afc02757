"""In-app notifications: what a user should know, shown in the app and pushed live."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Notification(models.Model):
    """Something a user should know, shown in the app and pushed live to their open tabs.

    Written by receivers only, in the transaction of what it is about (a rolled-back order
    notifies no one), and published to the streams after commit (notifications.live)."""

    class Kind(models.TextChoices):
        ORDER_PLACED = "order_placed", "Order placed"
        ORDER_CANCELLED = "order_cancelled", "Order cancelled"
        ORDER_FULFILLED = "order_fulfilled", "Order shipped"
        MESSAGE = "message", "New message"
        LOW_STOCK = "low_stock", "Low stock"
        SIDE_EFFECT_FAILED = "side_effect_failed", "Side effect failed"
        DUPLICATE_ORDER = "duplicate_order", "Duplicate order"
        NEW_DEVICE_LOGIN = "new_device_login", "Sign-in from a new device"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.CharField(max_length=500)
    # What it is about, as a path the front end can open (an order, a product).
    link = models.CharField(max_length=200, blank=True, default="")
    is_read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set by notifications_create (not auto_now_add): its email digest's due minute is
    # reckoned from the same instant (notifications.emails).
    created_at = models.DateTimeField(default=timezone.now)
    # When it went out in an email digest; null until then (or for good, when not wanted).
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # "My notifications, newest first" and "my unread ones": one index range each.
            models.Index(fields=["recipient", "is_read", "-id"], name="notification_unread_idx"),
            models.Index(fields=["recipient", "-id"], name="notification_recipient_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.recipient_id}: {self.message}"


# The kinds only staff are sent (notifications.services.inbox, to staff users only): a
# customer is neither offered them in the preferences nor may set them. A webhook that
# failed for good reaches staff as a SIDE_EFFECT_FAILED.
STAFF_ONLY_KINDS = frozenset(
    {
        Notification.Kind.LOW_STOCK.value,
        Notification.Kind.SIDE_EFFECT_FAILED.value,
        Notification.Kind.DUPLICATE_ORDER.value,
    }
)


class NotificationPreference(models.Model):
    """A person's channels for one kind of notification. A kind without a row has the
    defaults of notifications.preferences."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=32, choices=Notification.Kind.choices)
    in_app = models.BooleanField()
    email = models.BooleanField()
    push = models.BooleanField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique")
        ]

    def __str__(self):
        return (
            f"{self.user_id} {self.kind}: in_app={self.in_app} email={self.email} push={self.push}"
        )


class PushSubscription(models.Model):
    """One browser's Web Push subscription (PushManager.subscribe): where to POST, and the
    keys to encrypt for it. One row per endpoint: a browser that subscribes again updates
    its row. Made from a logged-in page, it ends when that session logs out."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=100)
    auth = models.CharField(max_length=50)
    # SHA-256 of the session key it was made in ("" from the token API): logging that
    # session out deletes it, so the next person on a shared browser gets none of these.
    session_hash = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"push subscription {self.pk} of {self.user_id}"
