"""Notifications: who each event notifies, in the transaction of the event, and the API
that lists them and marks them read (a user sees and changes only their own)."""

import pytest
from django.db import transaction
from django.test import Client

from messaging.models import Message
from messaging.services import message_post
from notifications.exceptions import NotificationNotFound
from notifications.models import Notification
from notifications.serializers import NotificationSerializer
from notifications.services import inbox, stream_tokens
from store.services.checkout import order_place
from store.services.stock import inventory_apply
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.brokers import channel_layer_on
from tests.support.clients import client_for
from tests.support.jobs import order_jobs
from tests.support.notifications import notify
from tests.support.orders import place_order
from worker.jobs import job_done, job_fail, jobs_claim

pytestmark = pytest.mark.django_db


def notified(kind=None) -> list[tuple[int, str]]:
    rows = Notification.objects.order_by("id")
    if kind:
        rows = rows.filter(kind=kind)
    return list(rows.values_list("recipient_id", "kind"))


@pytest.fixture
def staff():
    return [UserFactory(is_staff=True), UserFactory(is_staff=True)]


# --- Receivers ---------------------------------------------------------------------


def test_a_placed_order_notifies_its_customer_once(user, product, staff):
    order_id = place_order(user.customer, (product, 1))["id"]

    notification = Notification.objects.get()
    assert (notification.recipient_id, notification.kind) == (user.pk, "order_placed")
    assert notification.message.startswith(f"Order #{order_id} confirmed")
    assert notification.link == f"/account/orders/{order_id}/"  # its page
    assert not notification.is_read


def test_a_refused_checkout_notifies_no_one(user):
    lamp = ProductFactory(on_hand=1)
    cart = cart_with(user.customer, (lamp, 2))
    response = client_for(user).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
    assert response.status_code == 409
    assert notified() == []


def test_an_order_rolled_back_after_its_receivers_ran_notifies_no_one(user, product):
    cart = cart_with(user.customer, (product, 1))
    with pytest.raises(RuntimeError), transaction.atomic():
        order_place(customer=user.customer, cart_id=cart.pk)
        assert notified() == [(user.pk, "order_placed")]  # written, in the transaction
        raise RuntimeError("the caller's transaction fails after the checkout")
    assert notified() == []


def test_a_failing_notification_receiver_leaves_the_order_and_its_side_effects(
    user, product, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("notifications are down")

    monkeypatch.setattr(inbox, "notifications_create", broken)
    order_id = place_order(user.customer, (product, 1))["id"]
    assert order_jobs(order_id).count() == 3
    assert notified() == []


def test_low_stock_notifies_every_active_staff_user(user, staff):
    UserFactory(is_staff=True, is_active=False)
    lamp = ProductFactory(on_hand=20, low_stock_threshold=5, name="Desk lamp")
    order_id = place_order(user.customer, (lamp, 16))["id"]

    inventory_apply(order_id=order_id)
    inventory_apply(order_id=order_id)  # a replay notifies no more

    low = Notification.objects.filter(kind="low_stock").order_by("recipient_id")
    assert [n.recipient_id for n in low] == [member.pk for member in staff]
    assert all("Desk lamp" in n.message and "4 left" in n.message for n in low)
    assert low[0].link == f"/admin/store/product/{lamp.pk}/change/"  # where stock is set


def test_a_side_effect_failed_for_good_notifies_staff_once(user, product, staff):
    order_id = place_order(user.customer, (product, 1))["id"]
    [job] = jobs_claim(kind="confirmation_email", limit=1)  # its last attempt, failing
    assert job_fail(job=job, error="SMTP 554") is True
    # Failed again by the same attempt: recorded already, and no second alert.
    assert job_fail(job=job, error="SMTP 554") is False

    failed = Notification.objects.filter(kind="side_effect_failed")
    assert sorted(n.recipient_id for n in failed) == [member.pk for member in staff]
    assert {n.link for n in failed} == {f"/admin/store/order/{order_id}/change/"}
    assert all(f"Order #{order_id}" in n.message and "SMTP 554" in n.message for n in failed)


def test_a_done_side_effect_reported_failed_late_notifies_no_one(user, product, staff):
    place_order(user.customer, (product, 1))
    [job] = jobs_claim(kind="analytics", limit=1)
    assert job_done(job=job) is True
    assert job_fail(job=job, error="late") is False
    assert notified("side_effect_failed") == []


def test_a_customer_message_notifies_every_staff_user_until_one_answers(user, product, staff):
    order_id = place_order(user.customer, (product, 1))["id"]
    customer_client, first_staff = client_for(user), client_for(staff[0])

    customer_client.post(f"/api/orders/{order_id}/messages/", {"body": "Gift wrap?"}, format="json")
    assert sorted(r for r, _ in notified("message")) == [member.pk for member in staff]
    # Staff are led to the order's messages in the admin, the customer to the order's page.
    [staff_link] = set(Notification.objects.filter(kind="message").values_list("link", flat=True))
    staff_browser = Client()
    staff_browser.force_login(UserFactory(is_staff=True, is_superuser=True))  # may read them
    conversation = staff_browser.get(staff_link)
    assert conversation.status_code == 200 and b"Gift wrap?" in conversation.content

    Notification.objects.all().delete()
    answer = first_staff.post(
        f"/api/orders/{order_id}/messages/", {"body": "Of course."}, format="json"
    ).json()
    assert notified("message") == [(user.pk, "message")]
    # To the message itself, on the order's page.
    assert Notification.objects.get().link == f"/account/orders/{order_id}/#message-{answer['id']}"

    Notification.objects.all().delete()
    customer_client.post(f"/api/orders/{order_id}/messages/", {"body": "Thanks!"}, format="json")
    assert notified("message") == [(staff[0].pk, "message")]  # the one who took it up


def test_a_message_saved_in_a_rolled_back_transaction_notifies_no_one(user, product, staff):
    order_id = place_order(user.customer, (product, 1))["id"]
    Notification.objects.all().delete()
    order = user.customer.orders.get(pk=order_id)
    with pytest.raises(RuntimeError), transaction.atomic():
        message_post(order=order, author=user, body="Hello")
        raise RuntimeError("rolled back")
    assert not Message.objects.exists()
    assert notified() == []


# --- The API ------------------------------------------------------------------------


def test_the_list_is_the_callers_own_newest_first_and_filters_unread(user):
    other = UserFactory()
    first, second, third = (notify(user, m) for m in ("one", "two", "three"))
    notify(other, "not yours")
    inbox.notification_mark_read(user=user, notification_id=second.pk)
    client = client_for(user)

    listed = client.get("/api/notifications/").json()
    assert [n["message"] for n in listed["results"]] == ["three", "two", "one"]
    fields = {"id", "kind", "message", "link", "is_read", "read_at", "created_at"}
    assert set(listed["results"][0]) == fields
    unread = client.get("/api/notifications/", {"unread": 1}).json()["results"]
    assert [n["id"] for n in unread] == [third.pk, first.pk]
    assert client.get("/api/notifications/unread-count/").json()["unread"] == 2


def test_unread_takes_one_or_zero(user):
    response = client_for(user).get("/api/notifications/", {"unread": "yes"})
    assert response.status_code == 400
    assert "unread" in response.json()


def test_marking_read_twice_answers_200_and_changes_nothing(user):
    notification = notify(user, "hello")
    client = client_for(user)

    first = client.post(f"/api/notifications/{notification.pk}/read/")
    second = client.post(f"/api/notifications/{notification.pk}/read/")

    assert first.status_code == second.status_code == 200
    assert first.json()["is_read"] and first.json()["read_at"] == second.json()["read_at"]
    assert client.get("/api/notifications/unread-count/").json()["unread"] == 0


def test_another_users_notification_is_not_found_and_stays_unread(user):
    theirs = notify(UserFactory(), "theirs")
    response = client_for(user).post(f"/api/notifications/{theirs.pk}/read/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No Notification matches the given query."}
    theirs.refresh_from_db()
    assert not theirs.is_read


def test_marking_another_users_notification_raises_the_domain_error_not_the_webs(user):
    theirs = notify(UserFactory(), "theirs")
    with pytest.raises(NotificationNotFound):
        inbox.notification_mark_read(user=user, notification_id=theirs.pk)
    theirs.refresh_from_db()
    assert not theirs.is_read


def test_read_all_marks_only_the_callers_own(user):
    notify(user, "a")
    notify(user, "b")
    theirs = notify(UserFactory(), "c")
    client = client_for(user)

    for marked in (2, 0):  # again: nothing more
        answer = client.post("/api/notifications/read-all/").json()
        assert (answer["marked"], answer["unread"]) == (marked, 0)
    theirs.refresh_from_db()
    assert not theirs.is_read


def test_notifications_need_credentials(anon_client):
    for method, path in [
        ("get", "/api/notifications/"),
        ("get", "/api/notifications/unread-count/"),
        ("post", "/api/notifications/read-all/"),
        ("post", "/api/notifications/stream-token/"),
    ]:
        assert getattr(anon_client, method)(path).status_code == 401, path


# --- Stream tokens ------------------------------------------------------------------


def test_a_stream_token_names_its_user_and_nothing_else_passes(user, settings):
    token = client_for(user).post("/api/notifications/stream-token/").json()
    assert token["expires_in"] == settings.SHOPFLOW_STREAM_TOKEN_SECONDS
    assert stream_tokens.stream_token_user_id(token=token["token"]) == user.pk

    _user_id, _, signature = token["token"].partition(":")
    assert stream_tokens.stream_token_user_id(token=f"{user.pk + 1}:{signature}") is None
    assert stream_tokens.stream_token_user_id(token=token["token"] + "x") is None
    assert stream_tokens.stream_token_user_id(token=str(user.pk)) is None  # unsigned


def test_a_stream_token_expires(user, settings):
    settings.SHOPFLOW_STREAM_TOKEN_SECONDS = -1
    token = stream_tokens.stream_token_issue(user=user)
    assert stream_tokens.stream_token_user_id(token=token) is None


@pytest.mark.django_db(transaction=True)  # commits for real: on_commit runs
def test_a_checkout_pushes_its_notification_after_the_response(user, product, monkeypatch):
    """The client does not wait for Redis: the push runs once the response is out."""
    from notifications import live

    pushed, ran_at_once = [], []
    monkeypatch.setattr(live, "_publish", lambda rows: pushed.extend(rows))
    real_run_after_response = live.run_after_response

    def spy(callback):
        real_run_after_response(callback)
        ran_at_once.append(bool(pushed))

    monkeypatch.setattr(live, "run_after_response", spy)
    place_order(user.customer, (product, 1))["id"]
    assert ran_at_once == [False]  # deferred inside the request ...
    assert [n.kind for n in pushed] == ["order_placed"]  # ... and done after it


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_push_pushes_stand_aside_for_a_while(user, settings):
    from notifications import live

    channel_layer_on(settings, "redis://127.0.0.1:1/0")  # nothing listens there
    with transaction.atomic():
        inbox.notifications_create(recipient_ids=[user.pk], kind="message", message="a")
    assert live._push_paused_until > 0
    paused_until = live._push_paused_until
    with transaction.atomic():  # skipped: no second wait on a dead Redis
        inbox.notifications_create(recipient_ids=[user.pk], kind="message", message="b")
    assert live._push_paused_until == paused_until


@pytest.mark.django_db(transaction=True)
def test_a_push_reaches_its_users_group_on_its_own_redis_database_only(user, settings, broker_url):
    """A shop on another database of the same Redis server (a developer's `make run`
    beside the tests) must not receive this shop's notifications."""
    import asyncio

    import redis
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from notifications import live

    db = redis.connection.parse_url(broker_url).get("db", 0)
    server = redis.Redis.from_url(broker_url).connection_pool.connection_kwargs
    # A database nothing else here uses (make run's is 0, the tests' 15 and 13).
    theirs = f"redis://{server['host']}:{server['port']}/{11 if db != 11 else 10}"
    channels = {}
    for url in (broker_url, theirs):
        channel_layer_on(settings, url)
        layer = get_channel_layer()
        channels[url] = (layer, async_to_sync(layer.new_channel)())
        async_to_sync(layer.group_add)(live.user_group(user.pk), channels[url][1])
    channel_layer_on(settings, broker_url)  # the shop publishes to its own
    with transaction.atomic():
        (sent,) = inbox.notifications_create(recipient_ids=[user.pk], kind="message", message="hi")

    async def receive(layer, channel, timeout):
        return await asyncio.wait_for(layer.receive(channel), timeout)

    ours_layer, ours_channel = channels[broker_url]
    message = async_to_sync(receive)(ours_layer, ours_channel, 5)
    assert message == {"type": live.EVENT, "event": live.notification_event(sent)}
    with pytest.raises(TimeoutError):
        async_to_sync(receive)(*channels[theirs], 0.5)


@pytest.mark.django_db(transaction=True)
def test_a_catch_up_after_a_live_event_still_brings_the_older_ones_that_were_lost(user):
    """Redis was away: two notifications were never pushed, a third came live. The
    connection's catch-up reads after what the database last gave it, not after the
    newest id it sent."""
    from asgiref.sync import async_to_sync

    from notifications.follower import Follower

    feed = Follower(layer=None, channel="c", user_id=user.pk, last_id=0, resync_soon=None)
    rows = [
        inbox.notifications_create(recipient_ids=[user.pk], kind="message", message=text)[0]
        for text in ("lost 1", "lost 2", "live")
    ]
    live_event = {**NotificationSerializer(rows[2]).data, "unread": 3}
    assert [e["id"] for e in feed.fresh([live_event])] == [rows[2].pk]
    caught_up = async_to_sync(feed.missed)()
    assert [e["id"] for e in caught_up] == [rows[0].pk, rows[1].pk]  # and not "live" twice
    assert async_to_sync(feed.missed)() == []
