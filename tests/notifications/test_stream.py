"""The Server-Sent Events stream's generator (notifications.stream), driven directly on an
in-memory channel layer: what it leaves behind when its opening fails halfway."""

import asyncio

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
