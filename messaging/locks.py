"""Every row lock messaging takes: named querysets for the caller's transaction, in
primary-key order."""

from django.db.models import QuerySet

from . import selectors
from .models import Message


def messages_unread_for_update(*, order, reader) -> QuerySet[Message]:
    """The messages `reader` has not read, locked: a second marking at once waits for the
    first, then finds them read, so their receipts go out once."""
    return (
        selectors.messages_unread_by(order=order, reader=reader)
        .select_for_update(no_key=True)
        .order_by("pk")
    )
