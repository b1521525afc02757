"""Domain errors any app's services and selectors may raise, which core.api answers for
every view: the domain layer names what went wrong, not an HTTP status."""


class NotFound(Exception):
    """Unknown, or not the caller's (someone else's row is not said to exist): a 404
    whose `detail` each subclass words."""

    detail = "Not found."
