"""Notifications pushed live: sent after commit to the recipient's group on the channel
layer (`notifications.user.<id>`), which every WebSocket and SSE connection of theirs
follows (.follower). The layer delivers at most once, so the database is the record; a
message carries the notification as the API shows it, so an open connection costs no query
an event (docs/notifications.md, "How an event reaches a browser")."""

import logging

import redis.asyncio
from channels.layers import get_channel_layer

from core import clock
from core.after_response import run_after_response

from .channel_layer import layer_call
from .serializers import NotificationSerializer

logger = logging.getLogger(__name__)

# The consumers' handler of a pushed notification: notification_event().
EVENT = "notification.event"
# ... of a change of the person's preferences: preferences_changed().
PREFERENCES_CHANGED = "preferences.changed"
# ... and of a read receipt for the person's messages: message_read().
RECEIPT = "message.read"


def user_group(user_id: int) -> str:
    return f"notifications.user.{user_id}"


def notification_event(notification) -> dict:
    """A notification as the API shows it (its serializer), for the live channels. Each
    connection adds its person's unread count as it sends it (notifications.follower):
    a publish reads nothing, and costs no query when no one is connected."""
    return dict(NotificationSerializer(notification).data)


def notifications_publish(notifications) -> None:
    """Push committed notifications to their recipients' open connections: after the
    response inside a request (the client does not wait for Redis), at once elsewhere (a
    worker). Never raises: a push that does not happen is caught up from the database."""
    if notifications:
        run_after_response(lambda: _publish(notifications))


# After a failed push, pushes from this process stand aside for a few seconds: Redis is
# away, and the connections catch up from the database once it is back.
PUSH_PAUSE_SECONDS = 5.0
_push_paused_until = 0.0


def _publish(notifications) -> None:
    events = [
        (user_group(row.recipient_id), {"type": EVENT, "event": notification_event(row)})
        for row in notifications
    ]
    _send(events)


def _send(messages) -> bool:
    """True when the channel layer took the messages."""
    global _push_paused_until
    if clock.monotonic() < _push_paused_until:
        return False
    try:
        layer_call(_group_send_all, messages)
    except Exception as exc:  # Redis away, or slow: never the caller's problem
        _push_paused_until = clock.monotonic() + PUSH_PAUSE_SECONDS
        logger.warning("notifications: live push of %s failed: %s", len(messages), exc)
        return False
    return True


def preferences_changed(*, user_id: int) -> None:
    """Tell the person's open connections to read their preferences again (after the
    response, like every push). Never raises: a connection that misses it reads them when
    it reconnects."""
    run_after_response(lambda: _send([(user_group(user_id), {"type": PREFERENCES_CHANGED})]))


def read_receipt_publish(*, author_ids, receipt: dict) -> None:
    """Tell the messages' authors' open connections that their messages were read. Never
    raises: the conversation's read_at is the record."""
    if author_ids:
        messages = [(user_group(uid), {"type": RECEIPT, "receipt": receipt}) for uid in author_ids]
        run_after_response(lambda: _send(messages))


async def _group_send_all(messages) -> None:
    layer = get_channel_layer()
    for group, message in messages:
        try:
            await layer.group_send(group, message)
        except redis.ConnectionError:
            # The layer loop keeps its connections: one Redis closed (a restart, an idle
            # timeout) fails once. Again, on a fresh one; Redis away fails again.
            await layer.group_send(group, message)
