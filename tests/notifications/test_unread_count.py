"""The unread count the server vouches for: the answers of marking read (one, or all up
to what the tab showed) and the count each live or caught-up frame carries."""

import pytest

from notifications.services import inbox
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.notifications import notify

pytestmark = pytest.mark.django_db


def test_read_all_up_to_an_id_leaves_the_newer_ones_unread_and_answers_the_count(user):
    """What the tab showed is marked; one written after the tab's last look stays unread."""
    seen = [notify(user, "a"), notify(user, "b")]
    written_since = notify(user, "c")
    client = client_for(user)

    answer = client.post("/api/notifications/read-all/", {"up_to_id": seen[-1].pk}, format="json")

    assert answer.json() == {"marked": 2, "unread": 1}
    written_since.refresh_from_db()
    assert not written_since.is_read
    assert client.get("/api/notifications/").json()["unread"] == 1


@pytest.mark.parametrize("up_to_id", [0, -1, "x", None, [1]])
def test_read_all_with_a_bad_up_to_id_is_a_400_and_marks_nothing(user, up_to_id):
    notify(user, "a")
    client = client_for(user)

    answer = client.post("/api/notifications/read-all/", {"up_to_id": up_to_id}, format="json")

    assert answer.status_code == 400 and "up_to_id" in answer.json()
    assert client.get("/api/notifications/").json()["unread"] == 1


def test_marking_one_read_answers_the_callers_new_unread_count(user):
    first, _ = notify(user, "a"), notify(user, "b")

    answer = client_for(user).post(f"/api/notifications/{first.pk}/read/").json()

    assert answer["id"] == first.pk and answer["is_read"] is True
    assert answer["unread"] == 1


@pytest.mark.django_db(transaction=True)
def test_each_notification_read_back_carries_the_unread_count_after_it(user):
    """What a live frame and a catch-up carry: the recipient's count as read, muted kinds
    and read ones left out, a newer one included (committed first, pushed first)."""
    from notifications import selectors
    from notifications.models import Notification, NotificationPreference

    rows = [notify(user, text) for text in ("one", "two", "three")]
    Notification.objects.filter(pk=rows[0].pk).update(is_read=True)
    muted = inbox.notifications_create(recipient_ids=[user.pk], kind="low_stock", message="x")
    NotificationPreference.objects.create(
        user=user, kind="low_stock", in_app=False, email=False, push=False
    )
    notify(UserFactory(), "someone else's")

    caught_up = selectors.notifications_after(user_id=user.pk, after_id=0)
    counted = [row.unread_total for row in caught_up]

    assert counted == [2, 2, 2, 2]  # the muted one adds nothing
    assert muted


@pytest.mark.django_db(transaction=True)
def test_a_live_frame_carries_the_persons_unread_count_as_the_connection_sends_it(user):
    """The publish reads nothing; the connection that sends the frame adds the count, read
    after the notification's commit (it was published after it)."""
    from asgiref.sync import async_to_sync

    from notifications import live
    from notifications.follower import Follower

    older, newest = notify(user, "older"), notify(user, "newest")
    follower = Follower(
        layer=None, channel="c", user_id=user.pk, last_id=older.pk, resync_soon=lambda: None
    )
    message = {"type": live.EVENT, "event": live.notification_event(newest)}

    frames = async_to_sync(follower.handle)(message)

    assert frames == [{"type": "notification", **live.notification_event(newest), "unread": 2}]
    assert async_to_sync(follower.handle)(message) == []  # sent once
