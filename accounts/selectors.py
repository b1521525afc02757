"""Reads of the accounts app: a user's logins, the login throttle's count, a request's
client address, whether a username or an email address is taken, the sign-up throttle's
count, an account's recent password resets."""

import ipaddress
import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.utils import timezone

from .exceptions import LoginThrottled, SignUpThrottled
from .models import LoginEvent, LoginFailure, PasswordResetRequest, SignUpAttempt

# The password reset emails an account gets are counted over this window.
PASSWORD_RESET_WINDOW = timedelta(hours=1)


def username_taken(*, username: str) -> bool:
    """Whether a user has this username (exactly: as the API's registration checks it)."""
    return get_user_model().objects.filter(username=username).exists()


def email_taken(*, email: str, other_than=None) -> bool:
    """Whether an account (other than the user `other_than`) has this email address, in
    any case: as the unique index on LOWER(email) compares them (accounts/migrations/0003),
    the database's LOWER on both sides. A blank address is nobody's."""
    if not email:
        return False
    users = get_user_model().objects.exclude(email="")  # the index's WHERE: it may serve this
    if other_than is not None:
        users = users.exclude(pk=other_than.pk)
    return users.alias(email_lower=Lower("email")).filter(email_lower=Lower(Value(email))).exists()


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
        failures = LoginFailure.objects.filter(at__gte=now - window, **matching)
        if seconds := _budget_wait(failures, allowed=allowed, window=window, now=now):
            refusals.append(LoginThrottled(seconds, of))
    return max(refusals, key=lambda refusal: refusal.retry_after, default=None)


def _budget_wait(recent: QuerySet, *, allowed: int, window: timedelta, now) -> int | None:
    """Seconds until a budget of `allowed` rows a `window` has room again, its `recent`
    rows (those within the window) counted; None while it has room."""
    # When the budget's latest `allowed` rows within the window happened, newest first.
    times = list(recent.order_by("-at").values_list("at", flat=True)[: max(allowed, 0)])
    if len(times) < allowed:
        return None
    oldest = times[-1] if times else now
    return max(1, math.ceil((oldest + window - now).total_seconds()))


def signup_retry_after(
    *, ip: str | None = None, email: str | None = None
) -> SignUpThrottled | None:
    """The refusal a sign-up from `ip`, or for `email`, meets now (how long until it may be
    tried, and whose budget it waits out), or None. Two budgets, each over its window:
    sign-ups from the address (made or refused: an address probing which emails have
    accounts spends it too), and accounts made for the email address (each one's welcome
    email). A sign-up refused by this throttle is not counted. Checked, then recorded: a
    burst sent at once may pass by as many as are in flight (as the login's address
    budget); the unique index keeps one email address to one account whatever the burst."""
    now = timezone.now()
    budgets = [
        (
            "address",
            {"ip": ip},
            settings.SHOPFLOW_SIGNUP_ADDRESS_ALLOWED,
            settings.SHOPFLOW_SIGNUP_ADDRESS_WINDOW_SECONDS,
        ),
        (
            "email",
            {"email": email.lower() if email else None, "made": True},
            settings.SHOPFLOW_SIGNUP_EMAIL_ALLOWED,
            settings.SHOPFLOW_SIGNUP_EMAIL_WINDOW_SECONDS,
        ),
    ]
    refusals = []
    for of, matching, allowed, window_seconds in budgets:
        if any(value is None for value in matching.values()):
            continue  # no address (or no email): that budget cannot be told apart
        window = timedelta(seconds=window_seconds)
        attempts = SignUpAttempt.objects.filter(at__gt=now - window, **matching)
        if seconds := _budget_wait(attempts, allowed=allowed, window=window, now=now):
            refusals.append(SignUpThrottled(seconds, of))
    return max(refusals, key=lambda refusal: refusal.retry_after, default=None)


def password_reset_budget_spent(*, user, network: str | None) -> str | None:
    """Which budget a password reset for `user` from the client's `network` would pass
    within PASSWORD_RESET_WINDOW ("account", "address"), or None: the account's emails, and
    the requests from one network (for any accounts)."""
    recent = PasswordResetRequest.objects.filter(at__gte=timezone.now() - PASSWORD_RESET_WINDOW)
    if recent.filter(user=user).count() >= settings.SHOPFLOW_PASSWORD_RESET_EMAILS_ALLOWED:
        return "account"
    allowed = settings.SHOPFLOW_PASSWORD_RESET_ADDRESS_ALLOWED
    if network is not None and recent.filter(ip=network).count() >= allowed:
        return "address"
    return None


def login_retry_after_for(*, request, username: str) -> int | None:
    """login_retry_after's seconds for this request's client address and the username it
    tried: what /metrics asks before it checks basic-auth credentials (core.metrics)."""
    refusal = login_retry_after(ip=request_network(request=request), username=username or None)
    return refusal.retry_after if refusal else None


def client_network(*, ip: str | None) -> str | None:
    """Whom an address's budget (sign-ups, failed logins) is kept for: an IPv4 address, or
    an IPv6 address's /64 (one host is given all of it, and can pick a new address for
    each request)."""
    if ip is None or ":" not in ip:  # request_ip's: an address or None
        return ip
    return str(ipaddress.IPv6Network(f"{ip}/64", strict=False).network_address)


def request_network(*, request) -> str | None:
    """The network of the request's client (client_network of its request_ip): what the
    failed logins' address budgets count."""
    return client_network(ip=request_ip(request=request))


def request_ip(*, request) -> str | None:
    """The client's address as this server saw it (REMOTE_ADDR). Behind a reverse proxy
    that is the proxy's, unless the proxy sets REMOTE_ADDR (e.g. uvicorn's
    --forwarded-allow-ips with X-Forwarded-For), in one form: an IPv4 client of a
    dual-stack socket as IPv4, an IPv6 one without its zone (PostgreSQL's inet has none).
    None when there is none, or it is no IP address (a unix socket's path or name)."""
    ip = request.META.get("REMOTE_ADDR") if request is not None else None
    try:
        address = ipaddress.ip_address(ip.partition("%")[0]) if ip else None
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address) if address else None


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
