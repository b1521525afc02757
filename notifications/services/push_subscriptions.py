"""Browsers' Web Push subscriptions: saved, renewed, deleted, ended with their session."""

import hashlib

from django.core.exceptions import ValidationError
from django.db import transaction

from .. import locks, push
from ..exceptions import PushSubscriptionNotFound
from ..models import PushSubscription

MAX_PUSH_SUBSCRIPTIONS = 20


def push_subscription_save(
    *, user, endpoint: str, p256dh: str, auth: str, session_key: str | None = None
):
    """Store a browser's subscription, one row per endpoint: a browser that subscribes
    again (or for another person) updates its row. Made in a session (`session_key`), it
    ends when that session logs out. (row, created); ValidationError past
    MAX_PUSH_SUBSCRIPTIONS a person."""
    session_hash = _session_hash(session_key) if session_key else ""
    fields = {"user": user, "p256dh": p256dh, "auth": auth, "session_hash": session_hash}
    with transaction.atomic():
        browser = locks.push_subscription_by_endpoint(endpoint=endpoint)
        mine = PushSubscription.objects.filter(user=user)
        if not browser.exists() and mine.count() >= MAX_PUSH_SUBSCRIPTIONS:
            raise ValidationError(
                {"endpoint": [f"At most {MAX_PUSH_SUBSCRIPTIONS} browsers a person."]}
            )
        # The same browser subscribing twice at once: one adds the row, the other updates it.
        row, created = browser.update_or_create(endpoint=endpoint, defaults=fields)
    if created:
        push.anyone_subscribed.expire()
    return row, created


def push_subscription_renew(*, old_endpoint: str, endpoint: str, p256dh: str, auth: str):
    """A browser's service worker replaces its subscription (pushsubscriptionchange): the
    row of `old_endpoint`, whoever holds that unguessable URL, takes the new one. The row,
    or None for an endpoint no row has; ValidationError when another person's row has the
    new endpoint."""
    with transaction.atomic():
        row = locks.push_subscription_by_endpoint(endpoint=old_endpoint).first()
        if row is None:
            return None
        taken = PushSubscription.objects.filter(endpoint=endpoint).exclude(pk=row.pk)
        if taken.exclude(user_id=row.user_id).exists():
            raise ValidationError({"endpoint": ["Another subscription has that endpoint."]})
        taken.delete()  # the same person's: the browser subscribed again meanwhile
        row.endpoint, row.p256dh, row.auth = endpoint, p256dh, auth
        row.save()
        return row


def push_subscription_delete(*, user, subscription_id: int) -> None:
    """PushSubscriptionNotFound for an unknown one or anyone else's."""
    deleted, _ = PushSubscription.objects.filter(pk=subscription_id, user=user).delete()
    if not deleted:
        raise PushSubscriptionNotFound(subscription_id)


def push_subscriptions_end_for_session(*, user, session_key: str | None) -> int:
    """A session logs out: the subscriptions made in it go (a browser shared by two people
    must not push the first one's notifications to the second); how many."""
    if user is None or not session_key:
        return 0
    made_there = PushSubscription.objects.filter(user=user, session_hash=_session_hash(session_key))
    return made_there.delete()[0]


def _session_hash(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()
