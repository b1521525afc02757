"""Domain errors of messaging. Views turn them into HTTP answers (a 404 here)."""


class ConversationNotFound(Exception):
    """The order is unknown, or its conversation is not the user's (neither its customer
    nor staff): someone else's order is not said to exist."""
