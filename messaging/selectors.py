"""Reads of the conversations about orders."""

from django.db.models import QuerySet

from store import selectors as store_selectors
from store.models import Order

from .exceptions import ConversationNotFound
from .models import Message


def conversation_order_get(*, user, order_id: int) -> Order:
    """The order whose conversation `user` may read and write: their own, or any for
    staff. ConversationNotFound otherwise (someone else's order is not said to exist)."""
    try:
        return store_selectors.order_visible_to(user=user, order_id=order_id)
    except Order.DoesNotExist:
        raise ConversationNotFound(order_id) from None


def message_list(*, order) -> QuerySet[Message]:
    return Message.objects.filter(order=order).select_related("author").order_by("id")


def conversation_staff_ids(*, order_id: int) -> list[int]:
    """Staff who have written in an order's conversation: the ones who took it up."""
    return list(
        Message.objects.filter(order_id=order_id, author__is_staff=True, author__is_active=True)
        .order_by("author_id")
        .values_list("author_id", flat=True)
        .distinct()
    )
