"""Throttles of the token endpoint: after repeated failed logins from one IP, or for one
username, further attempts are refused with 429 and Retry-After until the oldest of those
failures leaves the window (core.selectors.login_retry_after, which the account and admin
login pages ask too: core.forms). Counted from the login audit's own rows (LoginFailure),
so every web process sees the same count with no shared cache to run."""

from rest_framework.throttling import BaseThrottle

from . import selectors, services


class _LoginFailureThrottle(BaseThrottle):
    def key(self, request) -> dict:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        key = self.key(request)
        self.retry_after = selectors.login_retry_after(**key) if key else None
        return self.retry_after is None

    def wait(self):
        return self.retry_after


class LoginFailuresPerIPThrottle(_LoginFailureThrottle):
    def key(self, request):
        ip = services.request_ip(request)
        return {"ip": ip} if ip else None


class LoginFailuresPerUsernameThrottle(_LoginFailureThrottle):
    def key(self, request):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or "\x00" in username:
            return None  # not a username: the serializer answers 400
        # As the serializer cleans it (and as the failure is recorded): " alice" is alice.
        username = username.strip()[:150]
        return {"username": username} if username else None
