"""Reads of notifications."""

from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, QuerySet, Subquery
from django.db.models.functions import Coalesce

from . import preferences, sql
from .models import Notification, NotificationPreference, PushSubscription


def notification_list(*, user_id: int, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's notifications, newest first, but for the kinds they turned off in the
    app (read in the same statement)."""
    muted = NotificationPreference.objects.filter(user_id=user_id, in_app=False)
    rows = Notification.objects.filter(recipient_id=user_id).exclude(kind__in=muted.values("kind"))
    return rows.filter(is_read=False) if unread_only else rows


class Unread(NamedTuple):
    """A person's unread count, and the version of the database it was read at: of two,
    the one with the greater `unread_as_of` is the newer (notifications.sql)."""

    unread: int
    unread_as_of: str


def notification_unread(*, user_id: int) -> Unread:
    """The user's unread count as notification_list counts it, and its version. Read it
    outside a transaction that wrote (or after its commit)."""
    unread = notification_list(user_id=user_id, unread_only=True)
    if not sql.on_postgresql():
        with transaction.atomic():  # SQLite: the write lock
            return Unread(unread.count(), sql.locked_version())
    # One statement, one snapshot: the person's row, their count and the snapshot's fields.
    count = Subquery(unread.order_by().values("recipient").annotate(n=Count("id")).values("n"))
    row = (
        get_user_model()
        .objects.filter(pk=user_id)
        .annotate(unread=Coalesce(count, 0), unread_as_of=sql.snapshot_version())
        .values("unread", "unread_as_of")
        .get()
    )
    return Unread(**row)


def kinds_muted_in_app(*, user_id: int) -> list[str]:
    """The kinds this person turned off in the app (a required channel never is)."""
    muted = NotificationPreference.objects.filter(user_id=user_id, in_app=False)
    return list(muted.values_list("kind", flat=True))


def preferences_for(*, user) -> dict[str, dict[str, bool]]:
    """The person's channels for every kind that can reach them (preferences.kinds_for):
    what they chose, else the defaults."""
    channels = preferences_of(user_ids={user.pk})
    return {kind: channels[user.pk, kind] for kind in preferences.kinds_for(user)}


def notifications_after(*, user_id: int, after_id: int, limit: int = 200) -> list[Notification]:
    """The user's notifications newer than `after_id`, oldest first: what a stream that
    saw `after_id` last has missed."""
    rows = Notification.objects.filter(recipient_id=user_id, pk__gt=after_id).order_by("id")
    return list(rows[:limit])


def notification_latest_id(*, user_id: int) -> int:
    rows = Notification.objects.filter(recipient_id=user_id).order_by("-id")
    return rows.values_list("id", flat=True).first() or 0


def staff_user_ids() -> list[int]:
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("id")
    return list(staff.values_list("id", flat=True))


def user_is_active(*, user_id: int) -> bool:
    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()


def preferences_of(*, user_ids) -> dict[tuple[int, str], dict[str, bool]]:
    """These people's channels for every kind, by (user id, kind): what they chose, else
    the defaults (notifications.preferences)."""
    rows = NotificationPreference.objects.filter(user_id__in=list(user_ids))
    chosen = {
        (row.user_id, row.kind): {"in_app": row.in_app, "email": row.email, "push": row.push}
        for row in rows
    }
    return {
        (user_id, kind): preferences.effective(kind, chosen.get((user_id, kind)))
        for user_id in user_ids
        for kind in preferences.DEFAULTS
    }


def push_subscriptions_of(*, user_ids) -> dict[int, list[PushSubscription]]:
    """These people's browsers, by user id."""
    found: dict[int, list[PushSubscription]] = {}
    for row in PushSubscription.objects.filter(user_id__in=list(user_ids)).order_by("id"):
        found.setdefault(row.user_id, []).append(row)
    return found


def push_subscription_list(*, user, endpoint: str | None = None) -> QuerySet[PushSubscription]:
    """The user's subscriptions; with `endpoint`, that browser's (one or none)."""
    rows = PushSubscription.objects.filter(user=user).order_by("id")
    return rows if endpoint is None else rows.filter(endpoint=endpoint)


def push_subscription_known(*, endpoint: str) -> bool:
    return PushSubscription.objects.filter(endpoint=endpoint).exists()
