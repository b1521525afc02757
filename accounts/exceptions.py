"""Domain errors of the accounts app. Forms, serializers and views turn them into answers."""


class LoginThrottled(Exception):
    """Too many recent failures for the account or from the address: the password was not
    checked. `retry_after` is in seconds; `of` is whose failures ("account", "address")."""

    def __init__(self, retry_after: int, of: str = "account"):
        super().__init__(f"login throttled for {retry_after}s ({of})")
        self.retry_after = retry_after
        self.of = of

    @property
    def reason(self) -> str:
        """What the person trying sees, without the wait (each path words that)."""
        if self.of == "address":
            return "Too many failed logins from your address."
        return "Too many failed logins for this account."
