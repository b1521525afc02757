"""Every row lock the notifications take: named querysets for the caller's transaction,
in primary-key order (due deliveries, which never wait: by recipient)."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from .models import NotificationDelivery, PushSubscription


def deliveries_due(*, channel: str, now) -> QuerySet[NotificationDelivery]:
    """A channel's pending deliveries that are due, with their notifications, recipients and
    subscriptions, by recipient (a person's rows together: one digest); the delivery rows
    locked, those another run holds skipped (so the order cannot deadlock)."""
    return (
        NotificationDelivery.objects.filter(
            channel=channel, status=NotificationDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .select_related("notification__recipient", "subscription")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("notification__recipient_id", "pk")
    )


def push_subscription_by_endpoint(*, endpoint: str) -> QuerySet[PushSubscription]:
    """The subscription of one browser, locked."""
    return PushSubscription.objects.filter(endpoint=endpoint).select_for_update().order_by("pk")


def preferences_owner_for_update(*, user_id: int) -> QuerySet:
    """The person (their user row), locked, which their preference changes take first: rows
    not yet written cannot be locked, and two changes merged over one read lose one."""
    return get_user_model().objects.select_for_update(no_key=True).filter(pk=user_id)
