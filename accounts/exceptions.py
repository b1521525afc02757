"""Domain errors of the accounts app. Forms, serializers and views turn them into answers."""


class Throttled(Exception):
    """A budget spent: nothing was done. `retry_after` is in seconds; `of` is whose budget;
    `reason` is what the person sees, without the wait (each path words that)."""

    action = ""
    reasons: dict[str, str] = {}

    def __init__(self, retry_after: int, of: str):
        super().__init__(f"{self.action} throttled for {retry_after}s ({of})")
        self.retry_after = retry_after
        self.of = of

    @property
    def reason(self) -> str:
        return self.reasons[self.of]


class LoginThrottled(Throttled):
    """Too many recent failures for the account or from the address: the password was not
    checked."""

    action = "login"
    reasons = {
        "account": "Too many failed logins for this account.",
        "address": "Too many failed logins from your address.",
    }


class SignUpThrottled(Throttled):
    """Too many sign-ups from the address, or an account was made for the email address
    within its window (accounts.selectors.signup_retry_after): nothing was made."""

    action = "sign-up"
    reasons = {
        "address": "Too many sign-ups from your address.",
        "email": "An account was made for this email address a short while ago.",
    }
