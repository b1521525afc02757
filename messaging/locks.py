"""Every row lock messaging takes: named querysets for the caller's transaction, in
primary-key order."""

from django.db.models import QuerySet

from .models import Message


def messages_unread_for_update(*, order, reader) -> QuerySet[Message]:
    """The messages `reader` has not read, locked: a second marking at once waits for the
    first, then finds them read, so their receipts go out once."""
    unread = Message.objects.filter(order=order, read_at=None)
    if reader.pk == order.customer.user_id:  # the staff's, for the order's customer
        unread = unread.exclude(author_id=reader.pk)
    else:  # the customer's, for staff
        unread = unread.filter(author_id=order.customer.user_id)
    return unread.select_for_update(no_key=True).order_by("pk")
