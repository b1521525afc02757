"""Conversations about an order, between its customer and the shop's staff."""

from django.conf import settings
from django.db import models


class Message(models.Model):
    """One message of the conversation between an order's customer and the shop's staff."""

    MAX_LENGTH = 5000

    order = models.ForeignKey("store.Order", on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="order_messages"
    )
    body = models.TextField(max_length=MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the other side first read it (the read receipt); null until then.
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["order", "id"], name="message_order_idx")]

    def __str__(self):
        return f"Message {self.pk} on order {self.order_id}"
