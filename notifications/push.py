"""The Web Push channel: a notification whose kind a person gets by push goes to each of
their browsers, encrypted (aes128gcm, pywebpush) and VAPID-signed, one NotificationDelivery
a browser so that none gets it twice; the push service's answer decides what follows
(docs/notifications.md, "By Web Push")."""

import json
import logging
import time
from datetime import timedelta

import urllib3
from django.conf import settings
from django.db.models import QuerySet
from py_vapid import Vapid02

from core.deadline import Deadline
from core.exists_check import ExistsCheck
from core.public_http import AddressRefused, AddressUnresolved, Reply, public_post, public_target
from worker.outbox import enqueue_on_commit

from . import delivery, selectors
from .delivery import DELIVERED, FAILED, RETRY, Outcome
from .models import Notification, NotificationDelivery, PushSubscription

logger = logging.getLogger(__name__)

PUSH = NotificationDelivery.Channel.PUSH
Kind = Notification.Kind
# How long a push service keeps a message for a browser that is offline, and how urgent
# it is (RFC 8030): pywebpush sends TTL 0 unless told, and the message is dropped.
DELIVERY = {
    Kind.ORDER_PLACED: (24 * 3600, "normal"),
    Kind.MESSAGE: (24 * 3600, "high"),
    Kind.LOW_STOCK: (3600, "normal"),
    Kind.SIDE_EFFECT_FAILED: (6 * 3600, "high"),
    Kind.DUPLICATE_ORDER: (3600, "normal"),
    Kind.NEW_DEVICE_LOGIN: (24 * 3600, "high"),
}
# Notifications older than this are not pushed: the person will see them in the app.
PLAN_WINDOW = timedelta(hours=1)
# A push, its DNS included, is cut at this: a push service answers at once or not at all.
REQUEST_SECONDS = 8.0
VAPID_CLAIM_SECONDS = 12 * 3600


def push_configured() -> bool:
    return bool(settings.VAPID_PRIVATE_KEY and settings.VAPID_PUBLIC_KEY)


def _subscribed_unknown(last: bool, exc) -> bool:
    logger.warning("notifications: could not tell whether anyone subscribed: %s", exc)
    return last  # as last read; beat's run catches up either way


# Whether anyone has a push subscription, read again every 10 s at most (a shop where no
# one has one writes no wake-up at all).
anyone_subscribed = ExistsCheck(
    lambda: PushSubscription.objects.exists(), seconds=10.0, on_error=_subscribed_unknown
)


def pushes_wake_up(*, recipient_ids: list[int]) -> None:
    """In the transaction that notifies these people: once it commits, have
    `notifications.send_pushes` run, if anyone has a push subscription. The wake-up is an
    outbox row, published by the relay (the web never talks to the broker), and joined
    with those of other commits into one run when the shop is busy."""
    if push_configured() and anyone_subscribed():
        enqueue_on_commit("notifications.send_pushes", list(recipient_ids))


def _candidates(*, now) -> QuerySet[Notification]:
    """Recent notifications of people with a subscription."""
    return Notification.objects.filter(
        created_at__gt=now - PLAN_WINDOW, recipient__push_subscriptions__isnull=False
    ).distinct()


def _rows(notifications, *, channel: str, now) -> list[NotificationDelivery]:
    """One a notification and browser."""
    recipients = {n.recipient_id for n in notifications}
    subscriptions = selectors.push_subscriptions_of(user_ids=recipients)
    return [
        NotificationDelivery(notification=n, channel=PUSH, subscription=sub, next_attempt_at=now)
        for n in notifications
        for sub in subscriptions.get(n.recipient_id, ())
    ]


def pushes_send(*, now=None) -> int:
    """Plan, then send the push deliveries that are due; how many were delivered."""
    return delivery.deliveries_send(SENDER, now=now) if push_configured() else 0


def push_delivery_send(deliveries: list[NotificationDelivery], *, now) -> Outcome:
    """Send one push (a group is one delivery); what came of it. A browser that cannot be
    pushed to again (its endpoint gone, or refused) loses its subscription."""
    (row,) = deliveries
    if row.subscription is None:  # the browser unsubscribed since it was planned
        return Outcome(FAILED, error="the subscription is gone")
    gone = PushSubscription.objects.filter(pk=row.subscription_id)
    try:
        answer = push_post(subscription=row.subscription, notification=row.notification)
    except (AddressUnresolved, urllib3.exceptions.HTTPError, OSError) as exc:
        return Outcome(RETRY, error=f"{type(exc).__name__}: {exc}")
    except AddressRefused as refused:  # after its subclass, AddressUnresolved
        gone.delete()
        return Outcome(FAILED, error=f"endpoint refused at send time: {refused}")
    if answer.status in (200, 201, 202):
        return Outcome(DELIVERED)
    error = f"{answer.status} from the push service: {answer.text[:200]}"
    if answer.status in (404, 410):
        gone.delete()
        return Outcome(FAILED, error=error)
    if answer.status == 429 or answer.status >= 500:
        return Outcome(RETRY, error=error, retry_after=_seconds(answer.headers.get("Retry-After")))
    logger.error("notifications: push %s refused, not retried: %s", row.pk, error)
    return Outcome(FAILED, error=error)


def push_payload(notification: Notification) -> dict:
    """What the service worker (/sw.js) shows: the title, the text, the link it opens."""
    return {
        "id": notification.pk,
        "title": Notification.Kind(notification.kind).label,
        "body": notification.message,
        "url": notification.link or "/account/notifications/",
    }


def push_post(*, subscription: PushSubscription, notification: Notification) -> Reply:
    """POST one notification to one subscription's push service, to the address the
    endpoint check approved, no redirect followed (core.public_http), the resolution and
    the request within REQUEST_SECONDS."""
    deadline = Deadline(REQUEST_SECONDS, about=f"the push to subscription {subscription.pk}")
    target = push_target(subscription.endpoint, deadline=deadline)
    ttl, urgency = DELIVERY.get(notification.kind, (3600, "normal"))
    payload = push_payload(notification)
    info = {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }
    # Here, not at the top: pywebpush imports aiohttp, a tenth of a second at the start of
    # every process (web, workers, beat, relay, commands) that most never pay back.
    from pywebpush import WebPusher

    body = WebPusher(info).encode(json.dumps(payload).encode(), "aes128gcm")["body"]
    claims = {
        "aud": target.origin,
        "sub": settings.VAPID_SUBJECT,
        "exp": int(time.time()) + VAPID_CLAIM_SECONDS,
    }
    headers = {
        **Vapid02.from_raw(settings.VAPID_PRIVATE_KEY.encode()).sign(claims),
        "TTL": str(ttl),
        "Urgency": urgency,
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
    }
    return public_post(target, body=body, headers=headers, deadline=deadline)


def push_target(endpoint: str, *, deadline: Deadline | None = None):
    """Where to POST for a push endpoint, resolved within `deadline`: public addresses
    only, plain http to loopback with SHOPFLOW_PUSH_ALLOW_LOOPBACK (core.public_http)."""
    allowed = settings.SHOPFLOW_PUSH_ALLOW_LOOPBACK
    return public_target(endpoint, loopback_allowed=allowed, deadline=deadline)


def _seconds(value: str | None) -> int:
    """Retry-After in seconds (an HTTP date counts as none: a minute of backoff anyway)."""
    try:
        return max(0, min(int(value or 0), 3600))
    except ValueError:
        return 0


SENDER = delivery.Sender(
    channel=PUSH,
    candidates=_candidates,
    rows=_rows,
    group=lambda row: row.pk,
    send=push_delivery_send,
)
