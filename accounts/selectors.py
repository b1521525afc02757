"""Reads of the accounts app: a user's logins, the login throttle's count, a request's
client address."""

import math
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import LoginEvent, LoginFailure


def login_event_list(*, user) -> QuerySet[LoginEvent]:
    """The user's logins, newest first."""
    return LoginEvent.objects.filter(user=user).order_by("-at", "-id")


def login_failure_times(*, since, limit: int, ip: str | None = None, username: str | None = None):
    """When the latest `limit` failed logins from this IP (or for this username) since
    `since` happened, newest first."""
    failures = LoginFailure.objects.filter(at__gte=since)
    failures = failures.filter(ip=ip) if ip is not None else failures.filter(username=username)
    return list(failures.order_by("-at").values_list("at", flat=True)[:limit])


def login_retry_after(*, ip: str | None = None, username: str | None = None) -> int | None:
    """Seconds until a login may be tried again from this IP and for this username, or
    None when it may be tried now. After SHOPFLOW_LOGIN_FAILURES_ALLOWED failures within
    SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS from either, until the oldest of them leaves
    the window. Every login path asks (accounts.services.login_authenticate)."""
    allowed = settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED
    window = timedelta(seconds=settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS)
    now = timezone.now()
    since = now - window
    waits = []
    for key in ({"ip": ip} if ip else None, {"username": username} if username else None):
        if key is None:
            continue
        times = login_failure_times(since=since, limit=allowed, **key)
        if len(times) >= allowed:
            waits.append(max(1, math.ceil((times[-1] + window - now).total_seconds())))
    return max(waits, default=None)


def login_retry_after_for(*, request, username: str) -> int | None:
    """login_retry_after for this request's client address and the username it tried:
    what /metrics asks before it checks basic-auth credentials (core.metrics)."""
    return login_retry_after(ip=request_ip(request=request), username=username or None)


def request_ip(*, request) -> str | None:
    """The client's address as this server saw it (REMOTE_ADDR). Behind a reverse proxy
    that is the proxy's, unless the proxy sets REMOTE_ADDR (e.g. uvicorn's
    --forwarded-allow-ips with X-Forwarded-For)."""
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else None


def login_is_from_a_new_device(*, event) -> bool:
    """Whether the user logged in before, but never from this user agent."""
    earlier = LoginEvent.objects.filter(user_id=event.user_id).exclude(pk=event.pk)
    return earlier.exists() and not earlier.filter(user_agent=event.user_agent).exists()
