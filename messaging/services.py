"""Writes of the conversations about orders."""

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Message


def message_post(*, order, author, body: str) -> Message:
    """Add a message to an order's conversation. Who may is the caller's business
    (selectors.conversation_order_get); the other side is notified by a post_save
    receiver (notifications)."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": ["A message cannot be empty."]})
    if len(body) > Message.MAX_LENGTH:
        raise ValidationError({"body": [f"A message has at most {Message.MAX_LENGTH} characters."]})
    with transaction.atomic():
        return Message.objects.create(order=order, author=author, body=body)
