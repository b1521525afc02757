"""Duplicate orders: an order with the same lines as one its customer placed minutes ago
is placed anyway (the customer may mean it) and flagged for staff."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .. import selectors
from ..models import Order


def order_lines_key(*, wanted: dict[int, int]) -> str:
    """The same products in the same quantities give the same key, whatever the order of
    the lines."""
    lines = ",".join(f"{pid}x{qty}" for pid, qty in sorted(wanted.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def order_duplicate_of(*, order: Order) -> int | None:
    """The customer's latest order with the same lines placed within the duplicate window
    before this new one, or None. One indexed query (customer, lines_key, placed_at).
    Called under the lines' product row locks (checkout): a concurrent identical order
    has committed by then."""
    if not order.lines_key:
        return None
    since = timezone.now() - timedelta(minutes=settings.SHOPFLOW_DUPLICATE_WINDOW_MINUTES)
    return selectors.order_latest_with_lines(
        customer_id=order.customer_id, lines_key=order.lines_key, since=since
    )
