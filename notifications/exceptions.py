"""Domain errors of notifications. Views turn them into HTTP answers (404s here)."""


class NotificationNotFound(Exception):
    """Unknown, or someone else's: another person's notification is not said to exist."""


class PushSubscriptionNotFound(Exception):
    """Unknown, or someone else's: another person's browser is not said to exist."""
