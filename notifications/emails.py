"""The email channel: what a person has not read in the app after a while is emailed to
them in one digest, a job of kind `notification_digest` (.digests: when it goes), sent
through email_app's send API (docs/notifications.md, "By email")."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from email_app.services import email_send

from . import preferences, selectors
from .digests import digest_due_at, email_delay
from .models import Notification
from .unsubscribe_links import unsubscribe_url

DIGEST = "notification_digest"  # its kind of email_app's SentEmail (key: the job's)
EMAIL = preferences.EMAIL
# The kinds whose email no preference, reading or unsubscribe link can stop.
_REQUIRED_EMAIL = frozenset(k for k, channels in preferences.REQUIRED.items() if EMAIL in channels)
# Unread notifications older than this are not emailed (a backlog from before the
# channel existed, or from a long outage, is not worth a flood).
LOOKBACK = timedelta(days=1)


def email_digest_send(*, key: str) -> bool:
    """The digest job `key` ("<user id>:<minute>"): email the person, once (email_app's
    SentEmail, keyed by `key`), their notifications due by then (by the end of that
    minute, or by now when later), made within LOOKBACK, not yet emailed, whose kind they
    get by email, unread (the kinds that must reach someone by email, read too); then mark
    them emailed. False when there was none, or no address to send to."""
    user_id, minute = (int(part) for part in key.split(":"))
    user = get_user_model().objects.get(pk=user_id)
    if not user.is_active or not user.email:
        return False
    # Made before this, a notification is due by the end of the job's minute: the job's
    # own, whatever this host's clock says. Those due by now go too (a late run: one email).
    own_due_by = digest_due_at(minute) - email_delay()
    due_by = max(own_due_by, timezone.now() - email_delay())
    candidates = Notification.objects.filter(
        Q(is_read=False) | Q(kind__in=_REQUIRED_EMAIL),
        recipient_id=user_id,
        emailed_at__isnull=True,
        created_at__lt=due_by,
        created_at__gte=due_by - LOOKBACK,
    ).order_by("id")
    chosen = selectors.preferences_of(user_ids={user_id})
    notifications = [n for n in candidates if chosen[user_id, n.kind][EMAIL]]
    if not notifications:
        return False
    if not email_send(kind=DIGEST, key=key, **_digest(user, notifications)):
        # An earlier attempt sent it, and was lost before its marks: the job's own were in
        # it; others due since may not have been, and go in a later digest (their own job).
        notifications = [n for n in notifications if n.created_at < own_due_by]
    Notification.objects.filter(pk__in=[n.pk for n in notifications]).update(
        emailed_at=timezone.now()
    )
    return True


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
