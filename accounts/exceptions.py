"""Domain errors of the accounts app. Forms, serializers and views turn them into answers."""


class LoginThrottled(Exception):
    """Too many recent failures from the address or for the username: the password was not
    checked. `retry_after` is in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"login throttled for {retry_after}s")
        self.retry_after = retry_after
