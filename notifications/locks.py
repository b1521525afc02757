"""Every row lock the notifications take: named querysets for the caller's transaction,
in primary-key order."""

from django.db.models import QuerySet

from .models import NotificationDelivery


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
