"""Notifications as the apps make them (notifications_create, in a transaction)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

# Made this long ago, a notification's email is due (SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES: 10).
EMAIL_DUE_MINUTES = 11


def notify(user, message: str = "hi", *, kind: str = "message", link: str = "", minutes_ago=None):
    """One notification for `user`, committed as an app's would be (its live push and push
    wake-up after the commit); made `minutes_ago` when given (an email is due)."""
    from notifications.models import Notification
    from notifications.services import inbox

    with transaction.atomic():
        (row,) = inbox.notifications_create(
            recipient_ids=[user.pk], kind=kind, message=message, link=link
        )
    if minutes_ago is not None:
        row.created_at = timezone.now() - timedelta(minutes=minutes_ago)
        Notification.objects.filter(pk=row.pk).update(created_at=row.created_at)
    return row


def notified_out_of_id_order(user, *, slow: str, fast: str):
    """Two notifications for `user` whose commits land out of id order: `slow` takes the
    smaller id, and commits after `fast` (PostgreSQL: SQLite has one writer at a time).
    (slow's row, fast's row)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    inserted, go = threading.Event(), threading.Event()

    def held_open():
        try:
            with transaction.atomic():
                row = notify(user, slow)  # its own savepoint, inside this transaction
                inserted.set()
                assert go.wait(10)
            return row
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(held_open)
        assert inserted.wait(10)
        second = notify(user, fast)
        go.set()
        first_row = first.result(10)
    assert first_row.pk < second.pk
    return first_row, second
