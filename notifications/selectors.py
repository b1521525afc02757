"""Reads of notifications."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from .models import Notification


def notification_list(*, user, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's notifications, newest first."""
    rows = Notification.objects.filter(recipient=user)
    return rows.filter(is_read=False) if unread_only else rows


def notification_unread_count(*, user) -> int:
    return Notification.objects.filter(recipient=user, is_read=False).count()


def notifications_after(*, user_id: int, after_id: int, limit: int = 200) -> list[Notification]:
    """The user's notifications newer than `after_id`, oldest first: what a stream that
    saw `after_id` last has missed."""
    return list(
        Notification.objects.filter(recipient_id=user_id, pk__gt=after_id).order_by("id")[:limit]
    )


def notification_latest_id(*, user_id: int) -> int:
    latest = (
        Notification.objects.filter(recipient_id=user_id).order_by("-id").values_list("id").first()
    )
    return latest[0] if latest else 0


def staff_user_ids() -> list[int]:
    return list(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .order_by("id")
        .values_list("id", flat=True)
    )


def notification_exists(*, kind: str, link: str) -> bool:
    return Notification.objects.filter(kind=kind, link=link).exists()
