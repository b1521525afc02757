"""The Server-Sent Events stream's generator (notifications.stream), driven directly on an
in-memory channel layer: what it leaves behind when its opening fails halfway, and where
messages wait while it falls behind."""

import asyncio
import json

import pytest
from channels.layers import get_channel_layer
from django.db import OperationalError

from notifications import live
from notifications.follower import Follower, followers
from notifications.stream import _events
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
        events = _events(user.pk, 0)
        with pytest.raises(OperationalError):
            await anext(events)
        members = get_channel_layer().groups.get(live.user_group(user.pk), {})
        return dict(members), len(followers().open)

    members, following = asyncio.run(open_the_stream())

    assert members == {} and following == 0


def test_a_stream_that_falls_behind_leaves_the_backlog_in_the_layer_and_sends_it_all(settings):
    """While nothing reads the stream (a slow client), the layer's messages stay in the
    layer's channel, bounded by its capacity, not in the process; read later, every one
    comes, in order."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    user = UserFactory()
    receipts = [{"message_id": n, "read_at": f"2026-11-28T12:00:{n:02d}Z"} for n in range(30)]

    async def fall_behind_then_read():
        events = _events(user.pk, 0)
        assert (await anext(events)).startswith("retry:")
        layer = get_channel_layer()
        for receipt in receipts:
            await layer.group_send(
                live.user_group(user.pk), {"type": live.RECEIPT, "receipt": receipt}
            )
        for _ in range(100):  # the stream's reader gets every chance to take what it can
            await asyncio.sleep(0)
        (waiting,) = [queue.qsize() for queue in layer.channels.values()]
        sent = [await anext(events) for _ in receipts]
        await events.aclose()
        return waiting, sent

    waiting, sent = asyncio.run(fall_behind_then_read())

    assert waiting >= len(receipts) - 2
    assert sent == [f"event: receipt\ndata: {json.dumps(r)}\n\n" for r in receipts]
