"""A person's choice of channels for each kind of notification."""

from django.db import transaction

from .. import live, locks, preferences, selectors
from ..models import NotificationPreference


def preferences_update(*, user, changes: dict[str, dict[str, bool]]) -> dict:
    """Apply `changes` (kind: channel: on; validated: notifications.serializers) over what
    the person has; their channels for every kind. Their open sockets and streams hear of
    it once committed (a kind turned off in the app stops arriving live)."""
    with transaction.atomic():
        locks.preferences_owner_for_update(user_id=user.pk).first()
        chosen = selectors.preferences_of(user_ids={user.pk})
        for kind, channels in changes.items():
            merged = {**chosen[user.pk, kind], **channels}
            NotificationPreference.objects.update_or_create(
                user=user, kind=kind, defaults=preferences.effective(kind, merged)
            )
        transaction.on_commit(lambda: live.preferences_changed(user_id=user.pk))
    return selectors.preferences_for(user=user)
