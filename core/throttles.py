"""Throttles of the token endpoint: after repeated failed logins from one IP, or for one
username, further attempts are refused with 429 and Retry-After until the oldest of those
failures leaves the window. Counted from the login audit's own rows (LoginFailure), so
every web process sees the same count with no shared cache to run."""

import math
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from . import selectors, services


class _LoginFailureThrottle(BaseThrottle):
    def key(self, request) -> dict:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        self.retry_after = None
        key = self.key(request)
        if not key:
            return True
        allowed = settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED
        window = timedelta(seconds=settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS)
        now = timezone.now()
        times = selectors.login_failure_times(since=now - window, limit=allowed, **key)
        if len(times) < allowed:
            return True
        # Allowed again when the oldest of the last `allowed` failures is out of the window.
        self.retry_after = max(1, math.ceil((times[-1] + window - now).total_seconds()))
        return False

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
