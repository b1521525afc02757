"""Duplicate orders: an order with the same lines as one its customer placed minutes ago
is placed anyway (the customer may mean it) and flagged for staff. Staff hear of the
flagged orders in batches: one alert a window names every order flagged since the last."""

import hashlib
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import locks, selectors
from ..models import DuplicateAlert, Order
from ..signals import duplicate_orders_alerted

logger = logging.getLogger(__name__)

# An alert names at most this many orders (its email stays readable); the others wait for
# the next window.
ALERT_MAX_ORDERS = 500


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


def alert_window_seconds() -> int:
    """SHOPFLOW_DUPLICATE_ALERT_WINDOW_SECONDS, at least 1."""
    return max(settings.SHOPFLOW_DUPLICATE_ALERT_WINDOW_SECONDS, 1)


def duplicate_alert_create(*, now=None) -> int | None:
    """Name the flagged orders no alert named yet in this window's alert and send
    duplicate_orders_alerted in the same transaction (docs/signals.md); the alert's id, or
    None when there is nothing to name or this window's alert exists (the rest waits for
    the next window). Each order is named once: locked, skipping those another run holds,
    and a window has one alert (unique window_start)."""
    now = now or timezone.now()
    seconds = alert_window_seconds()
    window_start = datetime.fromtimestamp(now.timestamp() // seconds * seconds, tz=UTC)
    with transaction.atomic():
        order_ids = list(locks.orders_flagged_unalerted()[:ALERT_MAX_ORDERS])
        if not order_ids:
            return None
        alert, created = DuplicateAlert.objects.get_or_create(window_start=window_start)
        if not created:
            logger.info("duplicate orders: the alert of %s exists; next window", window_start)
            return None
        Order.objects.filter(pk__in=order_ids).update(duplicate_alert=alert)
        duplicate_orders_alerted.send(sender=DuplicateAlert, alert=alert)
    logger.info("duplicate orders: alert %s names %s order(s)", alert.pk, len(order_ids))
    return alert.pk
