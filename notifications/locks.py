"""Every row lock the notifications take: named querysets for the caller's transaction,
in primary-key order; and the claim of delivery rows read under them."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from .models import NotificationDelivery, PushSubscription


def email_deliveries_due(*, user_id: int, now) -> QuerySet[NotificationDelivery]:
    """The person's pending email deliveries that are due, with their notifications; the
    delivery rows locked, those another digest run holds skipped."""
    return (
        NotificationDelivery.objects.filter(
            notification__recipient_id=user_id,
            channel=NotificationDelivery.Channel.EMAIL,
            status=NotificationDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        )
        .select_related("notification")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("pk")
    )


def push_deliveries_due(*, now) -> QuerySet[NotificationDelivery]:
    """Pending push deliveries that are due, with their notifications and subscriptions;
    the delivery rows locked, those another run holds skipped."""
    return (
        NotificationDelivery.objects.filter(
            channel=NotificationDelivery.Channel.PUSH,
            status=NotificationDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        )
        .select_related("notification", "subscription")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("pk")
    )


def push_subscription_by_endpoint(*, endpoint: str) -> QuerySet[PushSubscription]:
    """The subscription of one browser, locked."""
    return PushSubscription.objects.filter(endpoint=endpoint).select_for_update().order_by("pk")


def preferences_owner_for_update(*, user_id: int) -> QuerySet:
    """The person's user row, locked, which their preference changes take first: rows not
    yet written cannot be locked, and two changes merged over one read lose one."""
    return (
        get_user_model().objects.select_for_update(no_key=True).filter(pk=user_id).values_list("pk")
    )


# A claimed delivery is left to its sender this long; a sender killed meanwhile leaves it
# to a run after that (at least once).
CLAIM_SECONDS = 120


def deliveries_claim(deliveries, *, now) -> None:
    """Move the next attempt of these locked delivery rows past their send: once the
    caller commits, another run skips them while they are sent with no transaction open."""
    NotificationDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)
    )
