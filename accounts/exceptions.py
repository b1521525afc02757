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


class SignUpThrottled(Exception):
    """Too many sign-ups from the address, or an account was made for the email address
    within its window (accounts.selectors.signup_retry_after): nothing was made.
    `retry_after` is in seconds; `of` is whose budget ("address", "email")."""

    def __init__(self, retry_after: int, of: str = "address"):
        super().__init__(f"sign-up throttled for {retry_after}s ({of})")
        self.retry_after = retry_after
        self.of = of

    @property
    def reason(self) -> str:
        """What the person signing up sees, without the wait (each path words that)."""
        if self.of == "email":
            return "An account was made for this email address a short while ago."
        return "Too many sign-ups from your address."
