"""The Web Push channel: a notification whose kind a person gets by push goes to each of
their browsers, encrypted (aes128gcm, pywebpush) and VAPID-signed, one job of kind
`notification_push` a notification and browser (worker.jobs), so that none gets it twice;
the push service's answer decides what follows (docs/notifications.md, "By Web Push")."""

import json
import logging
import time
from datetime import timedelta

import urllib3
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from py_vapid import Vapid02

from core.deadline import Deadline
from core.exists_check import ExistsCheck
from core.public_http import AddressRefused, AddressUnresolved, Reply, public_post, public_target
from worker.jobs import enqueue_each_on_commit
from worker.tasks_base import TransientError

from . import preferences, selectors
from .models import Notification, PushSubscription

logger = logging.getLogger(__name__)

PUSH_KIND = "notification_push"  # its jobs' kind; key "<notification id>:<subscription id>"
Kind = Notification.Kind
# How long a push service keeps a message for a browser that is offline, and how urgent
# it is (RFC 8030): pywebpush sends TTL 0 unless told, and the message is dropped.
DELIVERY = {
    Kind.ORDER_PLACED: (24 * 3600, "normal"),
    Kind.ORDER_CANCELLED: (24 * 3600, "normal"),
    Kind.ORDER_FULFILLED: (24 * 3600, "normal"),
    Kind.MESSAGE: (24 * 3600, "high"),
    Kind.LOW_STOCK: (3600, "normal"),
    Kind.SIDE_EFFECT_FAILED: (6 * 3600, "high"),
    Kind.DUPLICATE_ORDER: (3600, "normal"),
    Kind.NEW_DEVICE_LOGIN: (24 * 3600, "high"),
}
# Notifications older than this are not pushed (a retry that comes later sends nothing):
# the person will see them in the app.
PLAN_WINDOW = timedelta(hours=1)
# A push, its DNS included, is cut at this: a push service answers at once or not at all.
REQUEST_SECONDS = 8.0
VAPID_CLAIM_SECONDS = 12 * 3600
# A push service's Retry-After is honoured up to this.
RETRY_AFTER_MAX_SECONDS = 3600


class PushNotSent(TransientError):
    """The push did not get through (the network, the push service busy): tried again."""


class PushRefused(Exception):
    """The push service, or the endpoint check, refused the push: trying again cannot fix it."""


def push_configured() -> bool:
    return bool(settings.VAPID_PRIVATE_KEY and settings.VAPID_PUBLIC_KEY)


def _subscribed_unknown(last: bool, exc) -> bool:
    logger.warning("notifications: could not tell whether anyone subscribed: %s", exc)
    return last  # as last read


# Whether anyone has a push subscription, read again every 10 s at most (a shop where no
# one has one reads nothing more when it notifies).
anyone_subscribed = ExistsCheck(
    lambda: PushSubscription.objects.exists(), seconds=10.0, on_error=_subscribed_unknown
)


def push_browsers(notifications: list[Notification]) -> dict[int, list[int]]:
    """The browsers (subscription ids) by recipient of these new notifications (one kind)
    whose recipients get that kind by push; empty, reading nothing, while push is not
    configured or no one has subscribed. Its reads run in a savepoint of their own (a
    receiver's SQL: core.signals)."""
    if not notifications or not push_configured() or not anyone_subscribed():
        return {}
    kind = notifications[0].kind
    with transaction.atomic():
        browsers = selectors.push_subscriptions_of(user_ids={n.recipient_id for n in notifications})
        if not browsers:
            return {}
        chosen = selectors.preferences_of(user_ids=set(browsers))
    return {
        user_id: [subscription.pk for subscription in subscriptions]
        for user_id, subscriptions in browsers.items()
        if chosen[user_id, kind][preferences.PUSH]
    }


def pushes_enqueue(notifications: list[Notification], *, browsers: dict[int, list[int]]) -> None:
    """In the transaction that made these notifications (inserted: the keys name them), a
    push job for each and each of its recipient's `browsers`."""
    keys = [
        f"{notification.pk}:{subscription_id}"
        for notification in notifications
        for subscription_id in browsers.get(notification.recipient_id, ())
    ]
    enqueue_each_on_commit(PUSH_KIND, keys)


def push_send(*, notification_id: int, subscription_id: int) -> bool:
    """Send one notification to one browser (a job of PUSH_KIND); True when the push
    service took it. Not sent, and nothing more to do (False): the notification was read
    in the app first, is older than PLAN_WINDOW, or its kind's push was turned off since;
    the browser's subscription is gone (404, 410: deleted here). PushNotSent (retried) when
    the push did not get through; PushRefused when it was refused for good (a refused
    endpoint: its subscription deleted). ObjectDoesNotExist when either row is gone."""
    subscription = PushSubscription.objects.get(pk=subscription_id)
    notification = Notification.objects.get(pk=notification_id)
    user_id = notification.recipient_id
    if (
        not push_configured()
        or notification.is_read
        or notification.created_at < timezone.now() - PLAN_WINDOW
        or not selectors.preferences_of(user_ids={user_id})[user_id, notification.kind][
            preferences.PUSH
        ]
    ):
        return False
    gone = PushSubscription.objects.filter(pk=subscription.pk)
    try:
        answer = push_post(subscription=subscription, notification=notification)
    except (AddressUnresolved, urllib3.exceptions.HTTPError, OSError) as exc:
        raise PushNotSent(f"{type(exc).__name__}: {exc}") from exc
    except AddressRefused as refused:  # after its subclass, AddressUnresolved
        gone.delete()
        raise PushRefused(f"endpoint refused at send time: {refused}") from refused
    if answer.status in (200, 201, 202):
        return True
    error = f"{answer.status} from the push service: {answer.text[:200]}"
    if answer.status in (404, 410):
        logger.info("notifications: subscription %s is gone: %s", subscription.pk, error)
        gone.delete()
        return False
    if answer.status == 429 or answer.status >= 500:
        raise PushNotSent(error, retry_after=min(answer.retry_after, RETRY_AFTER_MAX_SECONDS))
    raise PushRefused(error)


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
    # every process (web, workers, beat, dispatcher, commands) that most never pay back.
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
