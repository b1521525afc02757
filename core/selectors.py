"""Reads of the core app: notifications and order conversations."""

import math
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from .models import LoginEvent, LoginFailure, Message, Notification


def notifications_for(*, user, unread_only: bool = False) -> QuerySet[Notification]:
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


def order_conversation_get(*, user, order_id: int):
    """The order whose conversation `user` may read and write: their own, or any for
    staff. Http404 otherwise (someone else's order is not said to exist)."""
    # The store app's model, looked up rather than imported: store imports core (its API
    # errors and serializers).
    Order = apps.get_model("store", "Order")
    orders = Order.objects.select_related("customer")
    if not user.is_staff:
        orders = orders.filter(customer__user=user)
    try:
        return orders.get(pk=order_id)
    except Order.DoesNotExist:
        raise Http404("No such order.") from None


def order_messages(*, order) -> QuerySet[Message]:
    return Message.objects.filter(order=order).select_related("author").order_by("id")


def conversation_staff_ids(*, order_id: int) -> list[int]:
    """Staff who have written in an order's conversation: the ones who took it up."""
    return list(
        Message.objects.filter(order_id=order_id, author__is_staff=True, author__is_active=True)
        .order_by("author_id")
        .values_list("author_id", flat=True)
        .distinct()
    )


def logins_for(*, user) -> QuerySet[LoginEvent]:
    """The user's logins, newest first."""
    return LoginEvent.objects.filter(user=user).order_by("-at", "-id")


def login_failure_times(
    *,
    since,
    limit: int,
    ip: str | None = None,
    username: str | None = None,
    other_than_id: int | None = None,
):
    """When the latest `limit` failed logins from this IP (or for this username) since
    `since` happened, newest first; with `other_than_id`, leaving that row out."""
    failures = LoginFailure.objects.filter(at__gte=since)
    failures = failures.filter(ip=ip) if ip is not None else failures.filter(username=username)
    if other_than_id is not None:
        failures = failures.exclude(pk=other_than_id)
    return list(failures.order_by("-at").values_list("at", flat=True)[:limit])


def login_retry_after(
    *, ip: str | None = None, username: str | None = None, other_than_id: int | None = None
) -> int | None:
    """Seconds until a login may be tried again from this IP and for this username, or
    None when it may be tried now. After SHOPFLOW_LOGIN_FAILURES_ALLOWED failures within
    SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS from either, until the oldest of them leaves
    the window. With `other_than_id` (an attempt's own row), the others count. Every login
    path asks (core.services.login_attempt_begin)."""
    allowed = settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED
    window = timedelta(seconds=settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS)
    now = timezone.now()
    since = now - window
    waits = []
    for key in ({"ip": ip} if ip else None, {"username": username} if username else None):
        if key is None:
            continue
        times = login_failure_times(since=since, limit=allowed, other_than_id=other_than_id, **key)
        if len(times) >= allowed:
            waits.append(max(1, math.ceil((times[-1] + window - now).total_seconds())))
    return max(waits, default=None)
