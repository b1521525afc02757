from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from worker import outbox

from . import live, selectors
from .models import LoginEvent, LoginFailure, Message, Notification


def user_register(*, username: str, email: str, password: str):
    """Create a shop user. The Customer row and the welcome email follow from post_save
    receivers in store and email_app, inside this same transaction."""
    user_model = get_user_model()
    user = user_model(username=username, email=email)
    validate_password(password, user=user)
    user.set_password(password)
    with transaction.atomic():
        user.save()
    return user


# --- Notifications ------------------------------------------------------------------


def notifications_create(
    *, recipient_ids: list[int], kind: str, message: str, link: str = ""
) -> list[Notification]:
    """Notify these users, in the caller's transaction, and push it to their open streams
    once it commits (a rollback notifies no one).

    Called from receivers. Inside a signal sent in a transaction (store.signals), the rows
    are written with the outbox batch's INSERT at the end of the receivers, so a receiver
    needs no savepoint; elsewhere they are written here."""
    rows = [
        Notification(recipient_id=user_id, kind=kind, message=message[:500], link=link)
        for user_id in dict.fromkeys(recipient_ids)  # each user once, in order
    ]
    if not rows:
        return rows
    if (batch := outbox.current_batch()) is not None:
        batch.insert_with(rows, after_commit=live.notifications_publish)
    else:
        Notification.objects.bulk_create(rows)
        transaction.on_commit(lambda: live.notifications_publish(rows), robust=True)
    return rows


def notifications_create_for_staff(*, kind: str, message: str, link: str = "") -> None:
    """Notify every active staff user. Its own savepoint: the read of who is staff must
    not break the sender's transaction when it fails."""
    with transaction.atomic():
        staff = selectors.staff_user_ids()
    notifications_create(recipient_ids=staff, kind=kind, message=message, link=link)


def notification_mark_read(*, user, notification_id: int) -> Notification:
    """Mark one of the user's notifications read; marking it again changes nothing.
    Http404 for anyone else's."""
    notification = get_object_or_404(Notification, pk=notification_id, recipient=user)
    if not notification.is_read:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, is_read=False).update(
            is_read=True, read_at=now
        )
        notification.is_read, notification.read_at = True, now
    return notification


def notifications_mark_all_read(*, user) -> int:
    """Mark all the user's unread notifications read; how many were."""
    return Notification.objects.filter(recipient=user, is_read=False).update(
        is_read=True, read_at=timezone.now()
    )


# --- Order conversations -------------------------------------------------------------


def message_post(*, order, author, body: str) -> Message:
    """Add a message to an order's conversation. Who may is the caller's business
    (selectors.order_conversation_get); the other side is notified by a post_save receiver."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": ["A message cannot be empty."]})
    if len(body) > Message.MAX_LENGTH:
        raise ValidationError({"body": [f"A message has at most {Message.MAX_LENGTH} characters."]})
    with transaction.atomic():
        return Message.objects.create(order=order, author=author, body=body)


def message_notify_other_side(*, message: Message) -> None:
    """The other side of the conversation: the customer when staff writes; when the
    customer writes, the staff who took the conversation up, or every staff user."""
    order = message.order
    customer_user_id = order.customer.user_id
    if message.author_id == customer_user_id:
        recipients = selectors.conversation_staff_ids(order_id=order.pk)
        recipients = recipients or selectors.staff_user_ids()
        recipients = [user_id for user_id in recipients if user_id != message.author_id]
    else:
        recipients = [customer_user_id]
    preview = message.body if len(message.body) <= 120 else message.body[:117] + "..."
    notifications_create(
        recipient_ids=recipients,
        kind=Notification.Kind.MESSAGE,
        message=f"New message about order #{order.pk} from "
        f"{message.author.get_username()}: {preview}",
        link=f"/api/orders/{order.pk}/messages/",
    )


# --- Stream tokens ---------------------------------------------------------------------

_STREAM_TOKEN_SALT = "shopflow.notification-stream"


def stream_token_issue(*, user) -> str:
    """A signed, short-lived token naming the user, for a stream URL (EventSource cannot
    send an Authorization header)."""
    return signing.TimestampSigner(salt=_STREAM_TOKEN_SALT).sign(str(user.pk))


def stream_token_user_id(*, token: str) -> int | None:
    """The user a stream token names, or None when it expired or was tampered with."""
    try:
        value = signing.TimestampSigner(salt=_STREAM_TOKEN_SALT).unsign(
            token, max_age=settings.SHOPFLOW_STREAM_TOKEN_SECONDS
        )
        return int(value)
    except (signing.BadSignature, ValueError):
        return None


# --- Login audit ------------------------------------------------------------------------


def request_ip(request) -> str | None:
    """The client's address as this server saw it (REMOTE_ADDR). Behind a reverse proxy
    that is the proxy's, unless the proxy sets REMOTE_ADDR (e.g. uvicorn's
    --forwarded-allow-ips with X-Forwarded-For)."""
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else None


def _user_agent(request) -> str:
    return (request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:300]


def login_method(request) -> str:
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
    return LoginEvent.objects.create(
        user=user,
        ip=request_ip(request),
        user_agent=_user_agent(request),
        method=login_method(request),
    )


def login_failure_record(*, username: str, request) -> LoginFailure:
    return LoginFailure.objects.create(
        username=username[:150], ip=request_ip(request), user_agent=_user_agent(request)
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
    (audit_login_failure adds none), unless the login succeeds (login_record removes it)."""
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


def login_attempt_recorded(request) -> bool:
    """Did login_attempt_begin already record this request's attempt as a failure?"""
    return _login_attempt_id(request) is not None


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


def duplicate_order_notify_staff(*, order_id: int) -> bool:
    """Tell every staff user that an order repeats an earlier one; once per order, however
    often the task is delivered (True when this call notified). Order.DoesNotExist for
    an unknown order."""
    from django.apps import apps

    Order = apps.get_model("store", "Order")
    link = f"/api/orders/{order_id}/"
    with transaction.atomic():
        # The order's row lock: two deliveries at once notify once.
        order = Order.objects.select_for_update().only("pk", "duplicate_of_id").get(pk=order_id)
        kind = Notification.Kind.DUPLICATE_ORDER
        if (
            order.duplicate_of_id is None
            or Notification.objects.filter(kind=kind, link=link).exists()
        ):
            return False
        notifications_create_for_staff(
            kind=kind,
            message=f"Possible duplicate: order #{order.pk} repeats #{order.duplicate_of_id} "
            "(same lines, minutes apart)",
            link=link,
        )
    return True
