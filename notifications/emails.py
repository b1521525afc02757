"""The email channel: what a person has not read in the app after a while is emailed to
them in one digest, through the one pipeline (.delivery) and email_app's send API
(docs/notifications.md, "By email")."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse

from email_app.selectors import emails_sent
from email_app.services import email_send

from . import delivery, preferences
from .delivery import DELIVERED, FAILED, Outcome
from .models import Notification, NotificationDelivery
from .unsubscribe_links import unsubscribe_url

EMAIL = NotificationDelivery.Channel.EMAIL
# The kinds whose email no preference, reading or unsubscribe link can stop.
_REQUIRED_EMAIL = frozenset(k for k, channels in preferences.REQUIRED.items() if EMAIL in channels)
# Unread notifications older than this are not emailed (a backlog from before the
# channel existed, or from a long outage, is not worth a flood).
LOOKBACK = timedelta(days=1)
DIGEST = "notification_digest"  # its kind of email_app's SentEmail


def _candidates(*, now) -> QuerySet[Notification]:
    """Unread past the delay (read too, of the kinds that must reach someone), within the
    lookback."""
    due_before = now - timedelta(minutes=settings.SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES)
    return Notification.objects.filter(
        Q(is_read=False) | Q(kind__in=_REQUIRED_EMAIL),
        created_at__gt=due_before - LOOKBACK,
        created_at__lte=due_before,
    )


def email_digests_send(*, now=None) -> int:
    """Plan what is due, then send each recipient one digest of their due email
    deliveries; how many digests went out."""
    return delivery.deliveries_send(SENDER, now=now)


def email_digest_send(deliveries: list[NotificationDelivery], *, now) -> Outcome:
    """One digest of a person's due deliveries, through email_app's send API (once a
    digest). Each delivery keeps the key of the digest it last went in, written before the
    send: a retry after a lost answer leaves out those whose digest went out."""
    user = deliveries[0].notification.recipient
    if not user.is_active or not user.email:
        return Outcome(FAILED, error="no email address")
    sent = emails_sent(kind=DIGEST, keys={d.email_key for d in deliveries if d.email_key})
    deliveries = [d for d in deliveries if d.email_key not in sent]
    if deliveries:
        ids = ",".join(str(d.pk) for d in deliveries)
        key = f"{user.pk}:{hashlib.sha256(ids.encode()).hexdigest()[:16]}"
        email = _digest(user, [d.notification for d in deliveries])
        NotificationDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(email_key=key)
        email_send(kind=DIGEST, key=key, **email)
    return Outcome(DELIVERED)


def _wanted(row: NotificationDelivery) -> bool:
    """Reading a notification in the app first cancels its email, save the kinds that
    must reach someone by email."""
    return not row.notification.is_read or row.notification.kind in _REQUIRED_EMAIL


def _digest(user, notifications: list[Notification]) -> dict:
    """The digest's email_send arguments."""
    kinds = dict.fromkeys(n.kind for n in notifications)
    context = {
        "user": user,
        "notifications": notifications,
        "unsubscribe": [
            (Notification.Kind(kind).label, unsubscribe_url(user_id=user.pk, kind=kind))
            for kind in kinds
            if kind not in _REQUIRED_EMAIL
        ],
        "page_url": settings.SHOPFLOW_SITE_URL + reverse("notifications-page"),
    }
    count = len(notifications)
    subject = notifications[0].message if count == 1 else f"{count} notifications you have not read"
    subject = " ".join(subject.split())  # a header: one line
    headers = {}
    if context["unsubscribe"]:  # one-click (RFC 8058) for the first kind; the body links all
        headers = {
            "List-Unsubscribe": f"<{context['unsubscribe'][0][1]}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    return {
        "to": [user.email],
        "subject": subject[:150],
        "text": render_to_string("notifications/digest.txt", context),
        "html": render_to_string("notifications/digest.html", context),
        "headers": headers,
    }


SENDER = delivery.Sender(
    channel=EMAIL,
    candidates=_candidates,
    group=lambda row: row.notification.recipient_id,
    send=email_digest_send,
    wanted=_wanted,
)
