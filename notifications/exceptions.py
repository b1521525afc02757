"""Domain errors of notifications, answered by core.api (404s here) in get_object_or_404's
words: clients may match on them."""

from core.exceptions import NotFound


class NotificationNotFound(NotFound):
    """Unknown, or someone else's: another person's notification is not said to exist."""

    detail = "No Notification matches the given query."


class PushSubscriptionNotFound(NotFound):
    """Unknown, or someone else's: another person's browser is not said to exist."""

    detail = "No PushSubscription matches the given query."
