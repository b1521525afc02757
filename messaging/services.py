"""Writes of the conversations about orders."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.signals import send_robust_logged

from . import locks
from .models import Message
from .signals import message_read


def message_post(*, order, author, body: str) -> Message:
    """Add a message to an order's conversation. Who may is the caller's business
    (selectors.conversation_order_get); the other side is notified by a post_save
    receiver (notifications)."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": ["A message cannot be empty."]})
    if "\x00" in body:  # PostgreSQL's text refuses it: said, not a 500
        raise ValidationError({"body": ["A message cannot contain NUL characters."]})
    if len(body) > Message.MAX_LENGTH:
        raise ValidationError({"body": [f"A message has at most {Message.MAX_LENGTH} characters."]})
    with transaction.atomic():
        return Message.objects.create(order=order, author=author, body=body)


def messages_mark_read(*, order, reader) -> int:
    """Mark read the messages of the order's conversation that the other side sent and
    `reader` had not read (the read receipts); how many. Once committed, message_read
    tells their authors."""
    now = timezone.now()
    with transaction.atomic():
        unread = list(
            locks.messages_unread_for_update(order=order, reader=reader).values_list(
                "id", "author_id"
            )
        )
        if not unread:
            return 0
        Message.objects.filter(pk__in=[pk for pk, _ in unread]).update(read_at=now)
        transaction.on_commit(
            lambda: send_robust_logged(
                message_read,
                sender=Message,
                about=f"message_read, order {order.pk}",
                order_id=order.pk,
                message_ids=[pk for pk, _ in unread],
                author_ids=sorted({author for _, author in unread}),
                reader_id=reader.pk,
                read_at=now,
            )
        )
    return len(unread)
