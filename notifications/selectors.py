"""Reads of notifications."""

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet, Subquery

from . import preferences
from .models import Notification, NotificationPreference, PushSubscription


def notification_list(*, user_id: int, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's notifications, newest first, but for the kinds they turned off in the
    app."""
    rows = Notification.objects.filter(recipient_id=user_id).exclude(
        kind__in=kinds_muted_in_app(user_id=user_id)
    )
    return rows.filter(is_read=False) if unread_only else rows


def _count_of(rows: QuerySet[Notification]) -> Subquery:
    """How many `rows` (one user's) there are, as a subquery: read in the statement it
    annotates, the same snapshot."""
    return Subquery(rows.order_by().values("recipient").annotate(total=Count("id")).values("total"))


def notification_page_rows(*, user_id: int, unread_only: bool = False) -> QuerySet[Notification]:
    """As notification_list, each row also carrying the user's unread count read in the
    same statement (`unread_total`), so that a page and its count are one snapshot."""
    rows = notification_list(user_id=user_id)  # reads the muted kinds once, for both
    unread = rows.filter(is_read=False)
    return (unread if unread_only else rows).annotate(unread_total=_count_of(unread))


def notification_unread_count(*, user_id: int) -> int:
    return notification_list(user_id=user_id, unread_only=True).count()


def kinds_muted_in_app(*, user_id: int) -> list[str]:
    """The kinds this person turned off in the app (a required channel never is)."""
    muted = NotificationPreference.objects.filter(user_id=user_id, in_app=False)
    return list(muted.values_list("kind", flat=True))


def preferences_for(*, user) -> dict[str, dict[str, bool]]:
    """The person's channels for every kind: what they chose, else the defaults."""
    chosen = preferences_of(user_ids={user.pk})
    return {
        kind: preferences.effective(kind, chosen.get((user.pk, kind)))
        for kind in preferences.DEFAULTS
    }


def notifications_after(*, user_id: int, after_id: int, limit: int = 200) -> list[Notification]:
    """The user's notifications newer than `after_id`, oldest first: what a stream that
    saw `after_id` last has missed."""
    rows = Notification.objects.filter(recipient_id=user_id, pk__gt=after_id).order_by("id")
    # Each carries `unread_total`, the count as notification_list counts it, read with the
    # rows (a newer one committed first included): what the catch-up's frames say.
    unread = notification_list(user_id=user_id, unread_only=True)
    return list(rows.annotate(unread_total=_count_of(unread))[:limit])


def notification_latest_id(*, user_id: int) -> int:
    rows = Notification.objects.filter(recipient_id=user_id).order_by("-id")
    return rows.values_list("id", flat=True).first() or 0


def staff_user_ids() -> list[int]:
    return list(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .order_by("id")
        .values_list("id", flat=True)
    )


def user_is_active(*, user_id: int) -> bool:
    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()


def preferences_of(*, user_ids) -> dict[tuple[int, str], dict[str, bool]]:
    """The channels these people chose, by (user id, kind); a kind they never set is
    missing (its defaults apply: notifications.preferences)."""
    rows = NotificationPreference.objects.filter(user_id__in=list(user_ids))
    return {
        (row.user_id, row.kind): {"in_app": row.in_app, "email": row.email, "push": row.push}
        for row in rows
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
