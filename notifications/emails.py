"""The email channel: what a person has not read in the app after
SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES is emailed to them, several notifications in one
digest; reading one in the app first cancels its email. Each notification's email is a
NotificationDelivery row, planned once, retried with backoff while SMTP fails.

A digest is sent, then its rows are marked delivered in the same transaction: a worker
killed between the two sends it again (at least once), never loses it."""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from . import locks, metrics, preferences, selectors
from .models import Notification, NotificationDelivery
from .unsubscribe_links import unsubscribe_url

logger = logging.getLogger(__name__)

EMAIL = NotificationDelivery.Channel.EMAIL
# The kinds whose email no preference, reading or unsubscribe link can stop.
_REQUIRED_EMAIL = frozenset(k for k, channels in preferences.REQUIRED.items() if EMAIL in channels)
# Unread notifications older than this are not emailed (a backlog from before the
# channel existed, or from a long outage, is not worth a flood).
LOOKBACK = timedelta(days=1)
MAX_ATTEMPTS = 5
DIGEST_SIZE = 50


def email_deliveries_plan(*, now=None) -> int:
    """A pending email delivery for each notification unread past the delay whose kind its
    recipient gets by email; how many were planned. Candidates are read by pages of ids:
    the ones whose email is off are skipped every run, and must not hide the others."""
    now = now or timezone.now()
    due_before = now - timedelta(minutes=settings.SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES)
    planned, after_id = 0, 0
    while True:
        candidates = selectors.notifications_unread_unplanned(
            channel=EMAIL,
            created_after=due_before - LOOKBACK,
            created_before=due_before,
            read_too=_REQUIRED_EMAIL,
            after_id=after_id,
        )
        if not candidates:
            return planned
        after_id = candidates[-1].pk
        chosen = selectors.preferences_of(user_ids={row.recipient_id for row in candidates})
        rows = [
            NotificationDelivery(notification=row, channel=EMAIL, next_attempt_at=now)
            for row in candidates
            if preferences.effective(row.kind, chosen.get((row.recipient_id, row.kind)))[EMAIL]
        ]
        # A row another run planned meanwhile stays as it is.
        NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        planned += len(rows)


def email_digests_send(*, now=None) -> int:
    """Plan what is due, then send each recipient one digest of their pending email
    deliveries; how many digests went out."""
    now = now or timezone.now()
    email_deliveries_plan(now=now)
    sent = 0
    for user_id in selectors.email_deliveries_due_recipients(now=now):
        sent += email_digest_send(user_id=user_id, now=now)
    return sent


def email_digest_send(*, user_id: int, now) -> bool:
    """One digest to one person. Its rows are claimed in a short transaction (their next
    attempt moved past the send: another run skips them), sent with no transaction open
    (SMTP may be slow; SQLite's write lock must not wait on it), then recorded. True when
    an email went out."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    with transaction.atomic():
        due = list(locks.email_deliveries_due(user_id=user_id, now=now)[:DIGEST_SIZE])
        read = [
            d.pk
            for d in due
            if d.notification.is_read and d.notification.kind not in _REQUIRED_EMAIL
        ]
        NotificationDelivery.objects.filter(pk__in=read).update(
            status=NotificationDelivery.Status.CANCELLED
        )
        metrics.deliveries_count(channel="email", outcome="cancelled", count=len(read))
        due = [d for d in due if d.pk not in read]
        if due and user is not None and user.email:
            locks.deliveries_claim(due, now=now)
    if not due:
        return False
    if user is None or not user.email:
        _mark(due, status=NotificationDelivery.Status.FAILED, error="no email address")
        metrics.deliveries_count(channel="email", outcome="failed", count=len(due))
        return False
    try:
        _digest(user, [d.notification for d in due]).send()
    except Exception as exc:  # SMTP refused or away: try again later
        _retry(due, now=now, error=f"{type(exc).__name__}: {exc}")
        logger.warning("notifications: digest to user %s failed: %s", user_id, exc)
        return False
    _mark(due, status=NotificationDelivery.Status.DELIVERED, delivered_at=now)
    metrics.deliveries_count(channel="email", outcome="delivered", count=len(due))
    return True


def _mark(deliveries, **fields) -> None:
    if "error" in fields:
        fields["last_error"] = fields.pop("error")[:500]
    NotificationDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(**fields)


def _retry(deliveries, *, now, error: str) -> None:
    for delivery in deliveries:
        delivery.attempts += 1
        delivery.last_error = error[:500]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = NotificationDelivery.Status.FAILED
        # 1, 2, 4, 8 minutes.
        delivery.next_attempt_at = now + timedelta(minutes=2 ** (delivery.attempts - 1))
    NotificationDelivery.objects.bulk_update(
        deliveries, ["attempts", "last_error", "status", "next_attempt_at"]
    )
    failed = sum(d.status == NotificationDelivery.Status.FAILED for d in deliveries)
    metrics.deliveries_count(channel="email", outcome="failed", count=failed)
    metrics.deliveries_count(channel="email", outcome="retried", count=len(deliveries) - failed)


def _digest(user, notifications: list[Notification]) -> EmailMultiAlternatives:
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
    # One-click unsubscribe (RFC 8058) for the first kind; the body links every kind.
    headers = (
        {
            "List-Unsubscribe": f"<{context['unsubscribe'][0][1]}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        if context["unsubscribe"]
        else {}
    )
    message = EmailMultiAlternatives(
        subject=subject[:150],
        body=render_to_string("notifications/digest.txt", context),
        to=[user.email],
        headers=headers,
    )
    message.attach_alternative(render_to_string("notifications/digest.html", context), "text/html")
    return message
