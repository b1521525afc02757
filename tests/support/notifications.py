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
