"""Domain errors of messaging, answered by core.api (a 404 here)."""

from core.exceptions import NotFound


class ConversationNotFound(NotFound):
    """The order is unknown, or its conversation is not the user's (neither its customer
    nor staff): someone else's order is not said to exist."""

    detail = "No such order."
