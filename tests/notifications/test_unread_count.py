"""The unread count the server answers with, and its version (`unread_as_of`): the answers of
the page and of marking read (one, or all up to what the tab showed), and the count each
live or caught-up frame carries. Of two counts, the one with the greater version is the
newer, whatever order they were answered in."""

import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from notifications import live, selectors
from notifications.follower import Follower
from notifications.models import Notification, NotificationPreference
from notifications.services import inbox
from notifications.sql import one_snapshot
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.notifications import notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def follower_threads_closed():
    """A follower reads in asgiref's worker threads, whose connections (in reference
    cycles, as Django's are) close when collected: before the test database is dropped."""
    yield
    gc.collect()


def counted(answer: dict) -> int:
    """An answer's `unread`, once its version is seen to be one."""
    assert isinstance(answer["unread_as_of"], str) and len(answer["unread_as_of"]) == 22
    return answer["unread"]


def test_read_all_up_to_an_id_leaves_the_newer_ones_unread_and_answers_the_count(user):
    """What the tab showed is marked; one written after the tab's last look stays unread."""
    seen = [notify(user, "a"), notify(user, "b")]
    written_since = notify(user, "c")
    client = client_for(user)

    answer = client.post("/api/notifications/read-all/", {"up_to_id": seen[-1].pk}, format="json")

    assert (answer.json()["marked"], counted(answer.json())) == (2, 1)
    written_since.refresh_from_db()
    assert not written_since.is_read
    assert counted(client.get("/api/notifications/").json()) == 1


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
    assert counted(answer) == 1


@pytest.mark.django_db(transaction=True)
def test_a_catch_up_carries_the_count_after_its_notifications(user, follower_threads_closed):
    """The recipient's count as the list counts it: muted kinds and read ones left out."""
    rows = [notify(user, text) for text in ("one", "two", "three")]
    Notification.objects.filter(pk=rows[0].pk).update(is_read=True)
    inbox.notifications_create(recipient_ids=[user.pk], kind="low_stock", message="x")
    NotificationPreference.objects.create(
        user=user, kind="low_stock", in_app=False, email=False, push=False
    )
    notify(UserFactory(), "someone else's")

    follower = Follower(layer=None, channel="c", user_id=user.pk, last_id=0, resync_soon=None)
    frames = async_to_sync(follower.missed)()

    assert [frame["message"] for frame in frames] == ["one", "two", "three", "x"]
    assert {counted(frame) for frame in frames} == {2}  # the muted one adds nothing


@pytest.mark.django_db(transaction=True)
def test_a_live_frame_carries_the_persons_unread_count_as_the_connection_sends_it(
    user, follower_threads_closed
):
    """The publish reads nothing; the connection that sends the frame adds the count, read
    after the notification's commit (it was published after it)."""
    older, newest = notify(user, "older"), notify(user, "newest")
    follower = Follower(
        layer=None, channel="c", user_id=user.pk, last_id=older.pk, resync_soon=lambda: None
    )
    message = {"type": live.EVENT, "event": live.notification_event(newest)}

    (frame,) = async_to_sync(follower.handle)(message)

    assert frame == {
        "type": "notification",
        **live.notification_event(newest),
        "unread": 2,
        "unread_as_of": frame["unread_as_of"],
    }
    assert counted(frame) == 2
    assert async_to_sync(follower.handle)(message) == []  # sent once


@pytest.mark.django_db(transaction=True)
def test_a_count_read_after_a_commit_has_a_greater_version(user):
    """And the count (PostgreSQL's raw snapshot fields beside it) is the list's."""
    NotificationPreference.objects.create(
        user=user, kind="low_stock", in_app=False, email=False, push=False
    )
    inbox.notifications_create(recipient_ids=[user.pk], kind="low_stock", message="muted")
    before = selectors.notification_unread(user_id=user.pk)
    notify(user, "one")
    after = selectors.notification_unread(user_id=user.pk)

    assert (before.unread, after.unread) == (0, 1)
    assert after.unread == selectors.notification_list(user_id=user.pk, unread_only=True).count()
    assert before.unread_as_of < after.unread_as_of


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_count_of_an_older_snapshot_answered_later_has_the_smaller_version(user):
    """The withdrawn tab's failure: a page's count read before a notification committed,
    answered after a frame's count read after it. Read later, it is still the older."""
    notify(user, "one")
    taken, written = threading.Event(), threading.Event()

    def older_snapshot():
        try:
            with one_snapshot():
                Notification.objects.exists()  # the snapshot is taken here
                taken.set()
                assert written.wait(10)
                return selectors.notification_unread(user_id=user.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        answered_later = pool.submit(older_snapshot)
        assert taken.wait(10)
        notify(user, "two")
        newer = selectors.notification_unread(user_id=user.pk)
        written.set()
        older = answered_later.result(10)

    assert (older.unread, newer.unread) == (1, 2)
    assert older.unread_as_of < newer.unread_as_of


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_page_and_its_count_are_one_snapshot_whatever_commits_between_its_reads(user):
    """A notification committed after the page's first statement (its total) is neither
    listed nor counted in that page; the next page has it."""
    notify(user, "one")
    written = []

    def commit_one_after_the_total(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if '"__count"' in sql and not written:
            with ThreadPoolExecutor(1) as pool:
                written.append(pool.submit(notify_elsewhere, user).result(10))
        return result

    with connection.execute_wrapper(commit_one_after_the_total):
        page = client_for(user).get("/api/notifications/").json()

    assert written
    assert (page["count"], len(page["results"]), page["unread"]) == (1, 1, 1)
    after = client_for(user).get("/api/notifications/").json()
    assert (after["count"], after["unread"]) == (2, 2)
    assert page["unread_as_of"] < after["unread_as_of"]


def notify_elsewhere(user):
    try:
        return notify(user, "committed meanwhile")
    finally:
        connection.close()
