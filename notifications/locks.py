"""Every row lock the notifications take: named querysets for the caller's transaction,
in primary-key order."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from .models import PushSubscription


def push_subscription_by_endpoint(*, endpoint: str) -> QuerySet[PushSubscription]:
    """The subscription of one browser, locked."""
    return PushSubscription.objects.filter(endpoint=endpoint).select_for_update().order_by("pk")


def preferences_owner_for_update(*, user_id: int) -> QuerySet:
    """The person (their user row), locked, which their preference changes take first: rows
    not yet written cannot be locked, and two changes merged over one read lose one."""
    return get_user_model().objects.select_for_update(no_key=True).filter(pk=user_id)
