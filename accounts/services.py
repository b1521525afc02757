"""Writes of the accounts app: sign-up with its throttle, password reset requests, and the
login audit with its throttle."""

import logging
import time
from datetime import datetime, timedelta

from django.apps import apps
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import clock
from core.clock import db_now
from core.signals import send_robust_logged

from . import locks, selectors
from .exceptions import LoginThrottled
from .models import LoginEvent, LoginFailure, LoginGate, PasswordResetRequest, SignUpAttempt
from .selectors import request_ip
from .signals import login_from_new_device

audit_logger = logging.getLogger("shopflow.audit")


EMAIL_TAKEN = "An account with this email address already exists."
USERNAME_TAKEN = "This username is taken."


def user_register(*, username: str, email: str, password: str, ip: str | None = None):
    """Create a user. The shop's Customer row and the welcome email follow from post_save
    receivers (store, email_app), inside this same transaction. A ValidationError names
    the field refused: the password (its validators), the email address (another account
    has it, in any case) or the username. SignUpThrottled, nothing made, while the sign-up
    budget of the client's address `ip`, or of the email address, is spent
    (selectors.signup_retry_after). Each sign-up past the password's check is recorded
    (SignUpAttempt), made or refused, under the client's network (an IPv6 /64)."""
    ip = selectors.client_network(ip=ip)
    if refusal := selectors.signup_retry_after(ip=ip):
        raise refusal
    user = get_user_model()(username=username, email=email)
    try:
        validate_password(password, user=user)
    except ValidationError as refused:
        raise ValidationError({"password": refused.messages}) from None
    if selectors.email_taken(email=email):
        _signup_attempt_record(ip=ip, email=email, made=False)
        raise ValidationError({"email": [EMAIL_TAKEN]})
    if refusal := selectors.signup_retry_after(email=email):
        if selectors.email_taken(email=email):  # made a moment ago, by a sign-up beside this
            raise ValidationError({"email": [EMAIL_TAKEN]})
        raise refusal
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            _signup_attempt_record(ip=ip, email=email, made=True)  # committed with the user
    except IntegrityError:
        # Another sign-up took the name or the address a moment before: the unique index
        # on LOWER(email) (accounts/migrations/0003), or the username's.
        _signup_attempt_record(ip=ip, email=email, made=False)
        if selectors.username_taken(username=username):
            raise ValidationError({"username": [USERNAME_TAKEN]}) from None
        if selectors.email_taken(email=email):
            raise ValidationError({"email": [EMAIL_TAKEN]}) from None
        raise  # neither: a receiver's row
    return user


def _signup_attempt_record(*, ip: str | None, email: str, made: bool) -> SignUpAttempt:
    return SignUpAttempt.objects.create(ip=ip, email=email.lower()[:254], made=made)


def password_reset_request(*, user, request) -> PasswordResetRequest | None:
    """Someone asked for a reset link for `user` (the password reset page, for the
    account's email address): the request's row, whose post_save receiver (email_app)
    queues the email with the link in this same transaction. None, nothing sent, once the
    account had SHOPFLOW_PASSWORD_RESET_EMAILS_ALLOWED within the hour, or the client's
    network had SHOPFLOW_PASSWORD_RESET_ADDRESS_ALLOWED sent: a stranger can neither fill
    someone's mailbox nor mail every customer (the page says the same either way). Checked,
    then recorded: a burst may pass by as many as are in flight (as sign-up's budgets)."""
    network = selectors.request_network(request=request)
    with transaction.atomic():
        if over := selectors.password_reset_budget_spent(user=user, network=network):
            audit_logger.warning(
                "password reset not sent, too many for the %s: user %s from %s",
                over,
                user.pk,
                network,
            )
            return None
        return PasswordResetRequest.objects.create(user=user, ip=network)


def api_token_revoke(*, user) -> None:
    """Delete the user's API token (a password change): the next POST /api/auth/token/
    makes a new one. The token cache forgets it (store.apps). The model by its label:
    services import nothing of DRF, the web's side."""
    apps.get_model("authtoken", "Token").objects.filter(user=user).delete()


def _user_agent(request) -> str:
    return (request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:300]


def login_record(*, user, request, method: str | None = None) -> LoginEvent:
    """A successful login (user_logged_in); `method` when the path does not tell it (the
    token endpoint's)."""
    if not method:
        admin = request is not None and request.path.startswith("/admin/")
        method = LoginEvent.Method.ADMIN if admin else LoginEvent.Method.SESSION
    event = LoginEvent.objects.create(
        user=user,
        ip=request_ip(request=request),
        user_agent=_user_agent(request),
        method=method,
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
    """A failed login's record (user_login_failed): the username tried, never the
    password; the client's network (an IPv6 /64), whose budget it spends."""
    ip = selectors.request_network(request=request)
    return LoginFailure.objects.create(
        username=username[:150], ip=ip, user_agent=_user_agent(request)
    )


# A password check holds its username's gate at most this long (a process killed
# mid-check frees it then); an attempt waits at most GATE_WAIT_SECONDS for it, then is told
# to retry in a second.
GATE_LEASE = 30.0  # seconds
GATE_WAIT_SECONDS = 10.0
GATE_POLL_SECONDS = 0.05


def login_authenticate(*, request, username: str, password: str):
    """Django's authenticate(), throttled: the user, or None for wrong credentials. Raises
    LoginThrottled, the password unchecked, while a budget of recent failures is spent
    (selectors.login_retry_after). Attempts for one username are checked one at a time,
    each holding its gate until its failure is recorded (docs/signals.md,
    user_login_failed); the address's budget is counted without a gate, so a burst over
    many accounts may pass it by as many attempts as are in flight."""
    username = str(username)
    gate = f"username:{username[:150]}"
    ip = selectors.request_network(request=request)
    lease = _gate_take(gate=gate, ip=ip, username=username[:150] or None)
    try:
        # The failure's record commits here (autocommit), before the gate is let go.
        return authenticate(request, username=username, password=password)
    finally:
        # This attempt's lease only: one that outlived it may have been taken by another.
        LoginGate.objects.filter(pk=gate, held_until=lease).update(held_until=None)


def _gate_take(*, gate: str, ip: str | None, username: str | None) -> datetime:
    """The gate's lease (when it ends, by the database's clock), once no other attempt
    holds it and the budgets allow one more; each look a short transaction of its own (the
    row lock only orders the looks)."""
    LoginGate.objects.bulk_create(
        [LoginGate(key=gate, used_at=timezone.now())], ignore_conflicts=True
    )
    deadline = clock.monotonic() + GATE_WAIT_SECONDS
    while True:
        # Durable: the lease is committed as the look ends, where the next look sees it.
        with transaction.atomic(durable=True):
            if not locks.login_gate_for_update(key=gate).get():
                if refusal := selectors.login_retry_after(ip=ip, username=username):
                    raise refusal
                taken = LoginGate.objects.filter(pk=gate)
                taken.update(used_at=timezone.now(), held_until=db_now(plus_seconds=GATE_LEASE))
                return taken.values_list("held_until", flat=True).get()
        if clock.monotonic() >= deadline:
            raise LoginThrottled(1, "account")  # attempts at it queued longer than a wait
        time.sleep(GATE_POLL_SECONDS)


def login_audit_prune(*, older_than: timedelta) -> dict[str, int]:
    """Delete login events and failures, sign-up attempts and password reset requests
    older than `older_than`: the audit's retention (beat, daily), never shorter than the
    throttles' windows (config/settings), which count the rows within them."""
    cutoff = timezone.now() - older_than
    # Each delete's total: no other row refers to these, so nothing else is deleted.
    return {
        "login_events": LoginEvent.objects.filter(at__lt=cutoff).delete()[0],
        "login_failures": LoginFailure.objects.filter(at__lt=cutoff).delete()[0],
        "login_gates": LoginGate.objects.filter(used_at__lt=cutoff).delete()[0],
        "signup_attempts": SignUpAttempt.objects.filter(at__lt=cutoff).delete()[0],
        "password_resets": PasswordResetRequest.objects.filter(at__lt=cutoff).delete()[0],
    }
