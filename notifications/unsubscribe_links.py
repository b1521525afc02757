"""The unsubscribe link of every notification email: a signed token naming a person and a
kind, valid for UNSUBSCRIBE_MAX_AGE, used once. Opening it changes nothing (mail scanners
fetch links); a POST turns the kind's email off (docs/notifications.md, "By email")."""

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Unsubscription:
    user_id: int
    kind: Notification.Kind


def unsubscribe_url(*, user_id: int, kind: str) -> str:
    token = signing.dumps({"u": user_id, "k": kind}, salt=_SALT, compress=True)
    return settings.SHOPFLOW_SITE_URL + reverse("notifications-unsubscribe", args=[token])


def unsubscription_check(*, token: str) -> Unsubscription:
    """What `token` would turn off, changing nothing. UnsubscribeRefused when the link is
    forged, expired, or was used already (the kind's email is off)."""
    return _still_wanted(_decoded(token))


def email_unsubscribe(*, token: str) -> Unsubscription:
    """Turn off the email of the kind `token` names for the person it names, once; what was
    turned off. UnsubscribeRefused as unsubscription_check."""
    wanted = _decoded(token)
    with transaction.atomic():
        # The lock every preference change takes: two POSTs at once turn it off once.
        user = locks.preferences_owner_for_update(user_id=wanted.user_id).first()
        if user is None:
            raise UnsubscribeRefused("This link was used already.")  # the account is gone
        _still_wanted(wanted)
        preferences_update(user=user, changes={wanted.kind: {EMAIL: False}})
    return wanted


def _decoded(token: str) -> Unsubscription:
    try:
        payload = signing.loads(token, salt=_SALT, max_age=UNSUBSCRIBE_MAX_AGE.total_seconds())
        wanted = Unsubscription(user_id=int(payload["u"]), kind=Notification.Kind(payload["k"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise UnsubscribeRefused("This link is not valid, or has expired.") from exc
    if EMAIL in preferences.REQUIRED.get(wanted.kind, ()):
        raise UnsubscribeRefused("This kind of email cannot be turned off.")
    return wanted


def _still_wanted(wanted: Unsubscription) -> Unsubscription:
    chosen = selectors.preferences_of(user_ids={wanted.user_id}).get((wanted.user_id, wanted.kind))
    if not preferences.effective(wanted.kind, chosen)[EMAIL]:
        raise UnsubscribeRefused("This link was used already.")
    return wanted
