"""The Server-Sent Events stream's generator (notifications.stream), driven directly on an
in-memory channel layer: what it leaves behind when its opening fails halfway, and what
it holds while it falls behind."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import OperationalError

from notifications import live, stream
from notifications.follower import Follower, followers
from notifications.models import Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stream_whose_catch_up_read_fails_leaves_its_group_and_its_process(settings, monkeypatch):
    """The follower had joined its person's group when the read failed: it leaves at once,
    not when the group expires, and this process's followers forget it."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    user = UserFactory()

    async def database_gone(self):
        raise OperationalError("the server closed the connection unexpectedly")

    monkeypatch.setattr(Follower, "missed", database_gone)

    async def open_the_stream():
        events = stream._events(user.pk, 0)
        with pytest.raises(OperationalError):
            await anext(events)
        members = get_channel_layer().groups.get(live.user_group(user.pk), {})
        return dict(members), len(followers().open)

    members, following = asyncio.run(open_the_stream())

    assert members == {} and following == 0


def test_a_stream_that_falls_behind_holds_its_limit_then_catches_up_from_the_database(
    settings, monkeypatch
):
    """While nothing reads the stream (a slow client), it holds INBOX_LIMIT messages of
    the layer and no more; read later, it sends those, then what the database has that
    it missed meanwhile (here a notification whose live message never came)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setattr(stream, "INBOX_LIMIT", 5)
    user = UserFactory()
    receipts = [{"message_id": n, "read_at": f"2026-11-28T12:00:{n:02d}Z"} for n in range(12)]

    async def fall_behind_then_read():
        events = stream._events(user.pk, 0)
        assert (await anext(events)).startswith("retry:")
        layer = get_channel_layer()
        for receipt in receipts:
            await layer.group_send(
                live.user_group(user.pk), {"type": live.RECEIPT, "receipt": receipt}
            )
        # The stream's reader takes every message off the layer (it never waits for room):
        # turns of the loop until the layer's channel is empty, a bounded number of them.
        for _ in range(1000):
            if not any(queue.qsize() for queue in layer.channels.values()):
                break
            await asyncio.sleep(0)  # not a wait: one turn of the loop for the reader
        assert not any(queue.qsize() for queue in layer.channels.values())
        missed = await database_sync_to_async(Notification.objects.bulk_create)(
            [Notification(recipient=user, kind="message", message="while behind")]
        )
        sent = [await anext(events) for _ in range(6)]
        await events.aclose()
        return missed[0].pk, sent

    missed_id, sent = asyncio.run(fall_behind_then_read())

    assert sent[:5] == [f"event: receipt\ndata: {json.dumps(r)}\n\n" for r in receipts[:5]]
    assert sent[5].startswith(f"id: {missed_id}\nevent: notification\n")
