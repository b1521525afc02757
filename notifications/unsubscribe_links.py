"""The unsubscribe link of every notification email: a signed token naming a person and a
kind, valid for UNSUBSCRIBE_MAX_AGE, used once. Opening it changes nothing (mail scanners
fetch links); a POST turns the kind's email off (docs/notifications.md, "By email")."""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from . import locks, preferences, selectors
from .models import Notification
from .preferences import EMAIL
from .services.preferences import preferences_update

_SALT = "shopflow.notifications.unsubscribe"
UNSUBSCRIBE_MAX_AGE = timedelta(days=60)


class UnsubscribeRefused(Exception):
    """A forged, expired or already used unsubscribe link."""


def unsubscribe_url(*, user_id: int, kind: str) -> str:
    token = signing.dumps({"u": user_id, "k": kind}, salt=_SALT, compress=True)
    return settings.SHOPFLOW_SITE_URL + reverse("notifications-unsubscribe", args=[token])


def unsubscription_check(*, token: str) -> Notification.Kind:
    """The kind of email `token` would turn off, changing nothing. UnsubscribeRefused when
    the link is forged, expired, or was used already (the kind's email is off)."""
    user_id, kind = _decoded(token)
    _still_wanted(user_id, kind)
    return kind


def email_unsubscribe(*, token: str) -> Notification.Kind:
    """Turn off the email of the kind `token` names for the person it names, once; the kind
    turned off. UnsubscribeRefused as unsubscription_check."""
    user_id, kind = _decoded(token)
    with transaction.atomic():
        # The lock every preference change takes: two POSTs at once turn it off once.
        user = locks.preferences_owner_for_update(user_id=user_id).first()
        if user is None:
            raise UnsubscribeRefused("This link was used already.")  # the account is gone
        _still_wanted(user_id, kind)
        preferences_update(user=user, changes={kind: {EMAIL: False}})
    return kind


def _decoded(token: str) -> tuple[int, Notification.Kind]:
    try:
        payload = signing.loads(token, salt=_SALT, max_age=UNSUBSCRIBE_MAX_AGE.total_seconds())
        user_id, kind = int(payload["u"]), Notification.Kind(payload["k"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise UnsubscribeRefused("This link is not valid, or has expired.") from exc
    if EMAIL in preferences.REQUIRED.get(kind, ()):
        raise UnsubscribeRefused("This kind of email cannot be turned off.")
    return user_id, kind


def _still_wanted(user_id: int, kind: str) -> None:
    if not selectors.preferences_of(user_ids={user_id})[user_id, kind][EMAIL]:
        raise UnsubscribeRefused("This link was used already.")
