"""Writes of the accounts app: sign-up, and the login audit with its throttle."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone

from core.signals import send_robust_logged

from . import selectors
from .models import LoginEvent, LoginFailure
from .signals import login_from_new_device


def user_register(*, username: str, email: str, password: str):
    """Create a user. The shop's Customer row and the welcome email follow from post_save
    receivers (store, email_app), inside this same transaction."""
    user_model = get_user_model()
    user = user_model(username=username, email=email)
    validate_password(password, user=user)
    user.set_password(password)
    with transaction.atomic():
        user.save()
    return user


def request_ip(*, request) -> str | None:
    """The client's address as this server saw it (REMOTE_ADDR). Behind a reverse proxy
    that is the proxy's, unless the proxy sets REMOTE_ADDR (e.g. uvicorn's
    --forwarded-allow-ips with X-Forwarded-For)."""
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else None


def _user_agent(request) -> str:
    return (request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:300]


def _login_method(request) -> str:
    if request is None:
        return LoginEvent.Method.SESSION
    explicit = getattr(request, "login_method", None)  # set by the token endpoint
    if explicit:
        return explicit
    return (
        LoginEvent.Method.ADMIN if request.path.startswith("/admin/") else LoginEvent.Method.SESSION
    )


def login_record(*, user, request) -> LoginEvent:
    attempt = _login_attempt_id(request)
    if attempt is not None:
        LoginFailure.objects.filter(pk=attempt).delete()  # it was not a failure after all
    event = LoginEvent.objects.create(
        user=user,
        ip=request_ip(request=request),
        user_agent=_user_agent(request),
        method=_login_method(request),
    )
    if selectors.login_is_from_a_new_device(event=event):
        transaction.on_commit(
            lambda: send_robust_logged(
                login_from_new_device,
                sender=LoginEvent,
                about=f"login_from_new_device, user {user.pk}",
                user=user,
                event=event,
            )
        )
    return event


def login_failure_record(*, username: str, request) -> LoginFailure:
    return LoginFailure.objects.create(
        username=username[:150], ip=request_ip(request=request), user_agent=_user_agent(request)
    )


def _http_request(request):
    return getattr(request, "_request", request)  # DRF's Request wraps Django's


def _login_attempt_id(request) -> int | None:
    """The failure row login_attempt_begin recorded for this request's attempt, if any."""
    return getattr(_http_request(request), "login_attempt_id", None)


def login_attempt_begin(*, username: str, request) -> int | None:
    """Before a password is checked: record the attempt as a failure, then count the
    other failures. Counting after recording makes attempts that run at once see each
    other: of any attempts that pass, the last to count saw the others' rows, so a burst
    gets no more passwords checked than the throttle allows (read first and write after
    the check, and a burst all read the same count). Some of a burst may be refused that
    need not have been: the safe side.

    Returns the seconds to wait, the attempt refused and its row gone (it tried nothing);
    or None, the row named on the request: it stays the failure's record
    (login_failure_audit adds none), unless the login succeeds (login_record removes it)."""
    if request is None:  # no request to name the row on: count only, as before a check
        return selectors.login_retry_after(username=username[:150] or None)
    # Durable: committed before the count, where other attempts see it. Inside a caller's
    # transaction it would be neither (and a rollback of a 400 would take it back).
    with transaction.atomic(durable=True):
        row = login_failure_record(username=username, request=request)
    wait = selectors.login_retry_after(
        ip=row.ip, username=row.username or None, other_than_id=row.pk
    )
    if wait:
        row.delete()
        return wait
    _http_request(request).login_attempt_id = row.pk
    return None


def login_failure_audit(*, username: str, request) -> LoginFailure | None:
    """A failed login's record (user_login_failed): the username tried, never the
    password; none when a throttled login path recorded the attempt already."""
    if _login_attempt_id(request) is not None:
        return None
    return login_failure_record(username=username, request=request)


def login_audit_prune(*, older_than: timedelta) -> dict[str, int]:
    """Delete login events and failures older than `older_than`: the audit's retention
    (beat, daily). The throttles count failures of the last minutes only."""
    cutoff = timezone.now() - older_than
    _, events = LoginEvent.objects.filter(at__lt=cutoff).delete()
    _, failures = LoginFailure.objects.filter(at__lt=cutoff).delete()
    return {
        "login_events": events.get(LoginEvent._meta.label, 0),
        "login_failures": failures.get(LoginFailure._meta.label, 0),
    }
