"""A process's cached answer to "is there any?": a shop without webhook endpoints, or
without push subscriptions, pays no statement an event for them."""

from collections.abc import Callable

from django.db import DatabaseError, transaction

from . import clock


class ExistsCheck:
    """`exists()` read again at most every `seconds` (core.clock.monotonic). Read in a
    savepoint, so a failed read leaves the caller's transaction be; then the answer is
    `on_error(the last answer, the error)`, not kept. A row made in another process is
    seen within `seconds`; one made in this one, at once after `expire()`."""

    def __init__(
        self,
        exists: Callable[[], bool],
        *,
        seconds: float,
        on_error: Callable[[bool, DatabaseError], bool],
    ):
        self.exists, self.seconds, self.on_error = exists, seconds, on_error
        self.read_at, self.answer = float("-inf"), False

    def __call__(self) -> bool:
        if clock.monotonic() - self.read_at > self.seconds:
            try:
                with transaction.atomic():
                    answer = self.exists()
            except DatabaseError as exc:
                return self.on_error(self.answer, exc)
            self.read_at, self.answer = clock.monotonic(), answer
        return self.answer

    def expire(self) -> None:
        """A row was made here: the next call reads again."""
        self.read_at = float("-inf")
