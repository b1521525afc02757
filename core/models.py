"""The core app's rows: in-app notifications and the conversation about an order."""

from django.conf import settings
from django.db import models


class Notification(models.Model):
    """Something a user should know, shown in the app and pushed live to their open tabs.

    Written by receivers only, in the transaction of what it is about (a rolled-back order
    notifies no one), and published to the streams after commit (core.live)."""

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


class Message(models.Model):
    """One message of the conversation between an order's customer and the shop's staff."""

    MAX_LENGTH = 5000

    order = models.ForeignKey("store.Order", on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="order_messages"
    )
    body = models.TextField(max_length=MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["order", "id"], name="message_order_idx")]

    def __str__(self):
        return f"Message {self.pk} on order {self.order_id}"


class LoginEvent(models.Model):
    """A successful login: session, admin or API token."""

    class Method(models.TextChoices):
        SESSION = "session", "Session"
        ADMIN = "admin", "Admin"
        TOKEN = "token", "API token"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_events"
    )
    at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    method = models.CharField(max_length=16, choices=Method.choices)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "-at"], name="loginevent_user_idx")]

    def __str__(self):
        return f"{self.user_id} {self.method} login at {self.at:%Y-%m-%d %H:%M}"


class LoginFailure(models.Model):
    """A failed login: the username tried (which may not exist), never the password."""

    username = models.CharField(max_length=150, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # Every login path counts recent failures by IP and by username.
            models.Index(fields=["ip", "at"], name="loginfailure_ip_idx"),
            models.Index(fields=["username", "at"], name="loginfailure_username_idx"),
        ]

    def __str__(self):
        return f"failed login for {self.username!r} from {self.ip}"
