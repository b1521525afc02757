"""Reads of the accounts app: a user's logins, the login throttle's count, a request's
client address, whether a username is taken."""

import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from .exceptions import LoginThrottled
from .models import LoginEvent, LoginFailure


def username_taken(*, username: str) -> bool:
    """Whether a user has this username (exactly: as the API's registration checks it)."""
    return get_user_model().objects.filter(username=username).exists()


def login_event_list(*, user) -> QuerySet[LoginEvent]:
    """The user's logins, newest first."""
    return LoginEvent.objects.filter(user=user).order_by("-at", "-id")


def login_retry_after(
    *, ip: str | None = None, username: str | None = None
) -> LoginThrottled | None:
    """The refusal `username` tried from `ip` meets now (how long until it may be tried,
    and whose failures it waits out), or None. Three budgets of failures within the
    window, as OWASP's guidance and django-axes key them (docs/signals.md,
    user_login_failed): the account from this address, from anywhere (larger), and the
    address for any account (largest: an office behind one NAT shares it)."""
    window = timedelta(seconds=settings.SHOPFLOW_LOGIN_FAILURE_WINDOW_SECONDS)
    now = timezone.now()
    budgets = [
        ("account", {"username": username, "ip": ip}, settings.SHOPFLOW_LOGIN_FAILURES_ALLOWED),
        ("account", {"username": username}, settings.SHOPFLOW_LOGIN_ACCOUNT_FAILURES_ALLOWED),
        ("address", {"ip": ip}, settings.SHOPFLOW_LOGIN_ADDRESS_FAILURES_ALLOWED),
    ]
    refusals = []
    for of, matching, allowed in budgets:
        if not all(matching.values()):
            continue  # no address (or no username): that budget cannot be told apart
        # When the budget's latest `allowed` failures within the window happened, newest first.
        failures = LoginFailure.objects.filter(at__gte=now - window, **matching).order_by("-at")
        times = list(failures.values_list("at", flat=True)[:allowed])
        if len(times) >= allowed:
            seconds = max(1, math.ceil((times[-1] + window - now).total_seconds()))
            refusals.append(LoginThrottled(seconds, of))
    return max(refusals, key=lambda refusal: refusal.retry_after, default=None)


def login_retry_after_for(*, request, username: str) -> int | None:
    """login_retry_after's seconds for this request's client address and the username it
    tried: what /metrics asks before it checks basic-auth credentials (core.metrics)."""
    refusal = login_retry_after(ip=request_ip(request=request), username=username or None)
    return refusal.retry_after if refusal else None


def request_ip(*, request) -> str | None:
    """The client's address as this server saw it (REMOTE_ADDR). Behind a reverse proxy
    that is the proxy's, unless the proxy sets REMOTE_ADDR (e.g. uvicorn's
    --forwarded-allow-ips with X-Forwarded-For)."""
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else None


# A new account's first sign-ins are its owner's own (the API token that sign-up leads
# to, then a browser): within this age no "new sign-in" alert, their devices still learnt.
NEW_ACCOUNT_QUIET = timedelta(hours=1)


def login_is_from_a_new_device(*, event) -> bool:
    """Whether the user logged in before, but never from this user agent, and the account
    was at least NEW_ACCOUNT_QUIET old then."""
    if event.at - event.user.date_joined < NEW_ACCOUNT_QUIET:
        return False
    earlier = LoginEvent.objects.filter(user_id=event.user_id).exclude(pk=event.pk)
    return earlier.exists() and not earlier.filter(user_agent=event.user_agent).exists()
