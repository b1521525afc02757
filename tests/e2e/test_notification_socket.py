"""The notification WebSocket, served as in production: two web processes (gunicorn +
uvicorn), a Celery worker, the channel layer on Redis between them, clients on real
sockets."""

import pytest
from django.db import transaction

from notifications.models import Notification
from notifications.services import inbox, stream_tokens
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for, session_cookie
from tests.support.notifications import notify
from tests.support.processes import RelayProcess, WorkerProcess
from tests.support.streams import NotificationSocket

pytestmark = pytest.mark.django_db(transaction=True)

SOCKET = "/ws/notifications/"


@pytest.fixture
def sockets():
    opened = []

    def open_socket(process, user=None, **query) -> NotificationSocket:
        if user is not None:
            query["token"] = stream_tokens.stream_token_issue(user=user)
        params = "&".join(f"{key}={value}" for key, value in query.items())
        url = process.base.replace("http", "ws") + SOCKET + (f"?{params}" if params else "")
        socket = NotificationSocket(url)
        opened.append(socket)
        return socket

    yield open_socket
    for socket in opened:
        socket.close()


def test_a_notification_a_worker_commits_reaches_sockets_on_both_web_processes(
    web_env, web, sockets, tmp_path
):
    first, second = web(), web()
    staff, customer = UserFactory(is_staff=True), UserFactory()
    on_first, on_second = sockets(first, staff), sockets(second, staff)
    customers = sockets(second, customer)

    relay = RelayProcess(web_env, tmp_path / "relay.log").start()
    worker = WorkerProcess(web_env, tmp_path / "worker.log", concurrency=1).start()
    try:
        # Stock falls below its threshold: the worker's inventory task alerts staff.
        lamp = ProductFactory(on_hand=6, low_stock_threshold=5, name="Desk lamp")
        cart = cart_with(customer.customer, (lamp, 3))
        response = client_for(customer).post(
            "/api/orders/", {"cart_id": str(cart.pk)}, format="json"
        )
        assert response.status_code == 201, response.content
        order_id = response.json()["id"]

        placed = customers.next_frame()  # committed by the test's request
        assert placed["type"] == "notification" and placed["kind"] == "order_placed"
        assert placed["message"].startswith(f"Order #{order_id} confirmed")

        for socket in (on_first, on_second):
            frame = socket.next_frame(timeout=30)  # committed by the worker
            low = Notification.objects.get(recipient=staff, kind="low_stock")
            assert frame["id"] == low.pk and "Desk lamp" in frame["message"]
            assert set(frame) >= {"id", "kind", "message", "link", "is_read", "created_at"}
    finally:
        worker.stop()
        relay.stop()
    with pytest.raises(AssertionError):  # each socket gets its user's notifications only
        customers.next_frame(timeout=1)


def test_a_reconnect_with_last_id_replays_exactly_what_was_missed(web, sockets):
    process = web()
    user = UserFactory()
    socket = sockets(process, user)
    seen = notify(user, "one")
    assert socket.next_frame()["id"] == seen.pk
    socket.close()

    missed = [notify(user, "two"), notify(user, "three")]
    notify(UserFactory(), "someone else's")
    again = sockets(process, user, last_id=seen.pk)
    assert [again.next_frame()["id"], again.next_frame()["id"]] == [row.pk for row in missed]
    live = notify(user, "four")
    assert again.next_frame()["id"] == live.pk  # then live, nothing twice
    with pytest.raises(AssertionError):
        again.next_frame(timeout=1)


def test_without_credentials_or_with_bad_ones_the_socket_is_closed_4401(web, sockets):
    process = web()
    user = UserFactory()
    token = stream_tokens.stream_token_issue(user=user)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for query in ({}, {"token": tampered}, {"token": "nonsense"}):
        assert sockets(process, **query).close_code() == 4401, query


def test_a_token_opens_one_socket_only(web, sockets):
    process = web()
    token = stream_tokens.stream_token_issue(user=UserFactory())
    first = sockets(process, token=token)
    first.send({"type": "ping"})
    assert first.next_frame() == {"type": "pong"}
    assert sockets(process, token=token).close_code() == 4401  # replayed from a log


def test_an_expired_token_is_closed_4401(web, sockets):
    expired = web(SHOPFLOW_STREAM_TOKEN_SECONDS=-1)
    assert sockets(expired, UserFactory()).close_code() == 4401


def test_the_session_cookie_opens_the_socket_from_the_sites_own_pages_only(web, settings):
    from websockets.exceptions import InvalidStatus

    process = web()
    user = UserFactory()
    cookie = {"Cookie": f"sessionid={session_cookie(process, user, settings)}"}
    url = process.base.replace("http", "ws") + SOCKET
    socket = NotificationSocket(url, headers=cookie)
    try:
        sent = notify(user, "hello")
        assert socket.next_frame()["id"] == sent.pk
    finally:
        socket.close()
    # A page on another site must not open a socket with the user's cookie.
    with pytest.raises(InvalidStatus) as refused:
        NotificationSocket(url, headers=cookie, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    # Without an Origin it is no browser: its cookie counts for nothing, a token does.
    assert NotificationSocket(url, headers=cookie, origin=None).close_code() == 4401
    token = stream_tokens.stream_token_issue(user=user)
    app = NotificationSocket(f"{url}?token={token}", origin=None)
    try:
        app.send({"type": "ping"})
        assert app.next_frame() == {"type": "pong"}
    finally:
        app.close()


def test_bad_frames_get_error_frames_and_a_client_that_keeps_sending_them_is_closed(web, sockets):
    process = web()
    user = UserFactory()
    socket = sockets(process, user)
    for bad in ("not json", "x" * 5000, {"type": "subscribe"}, [1, 2]):
        socket.send(bad)
        frame = socket.next_frame()
        assert frame["type"] == "error" and frame["detail"], bad
    socket.send({"type": "sync", "last_id": "yesterday"})
    assert socket.next_frame()["type"] == "error"
    assert socket.close_code() == 4400  # the fifth
    # The process is fine: another socket of the same user works.
    again = sockets(process, user)
    sent = notify(user, "still here")
    assert again.next_frame()["id"] == sent.pk


def test_a_garbled_last_id_gets_an_error_frame_and_4400(web, sockets):
    socket = sockets(web(), UserFactory(), last_id="yesterday")
    assert socket.next_frame()["type"] == "error"
    assert socket.close_code() == 4400


def test_a_client_that_saw_a_gap_asks_for_everything_after_its_last_id(web, sockets):
    process = web()
    user = UserFactory()
    earlier = [notify(user, "one"), notify(user, "two")]
    socket = sockets(process, user)  # from now
    socket.send({"type": "sync", "last_id": earlier[0].pk - 1})
    assert [socket.next_frame()["id"], socket.next_frame()["id"]] == [r.pk for r in earlier]


def test_a_restarted_channel_layer_redis_loses_nothing_under_open_sockets(web, sockets, settings):
    """Redis restarts empty (its groups and queued messages gone): the web process
    notices (its watch), each socket joins its group again and reads what it missed."""
    from tests.support.brokers import RedisServer, channel_layer_on

    redis_server = RedisServer().start()
    try:
        first, second = (
            web(CHANNEL_LAYER_URL=redis_server.url),
            web(CHANNEL_LAYER_URL=redis_server.url),
        )
        channel_layer_on(settings, redis_server.url)
        user = UserFactory()
        opened = [sockets(first, user), sockets(second, user)]
        before = notify(user, "before")
        for socket in opened:
            assert socket.next_frame()["id"] == before.pk

        redis_server.stop()
        during = notify(user, "while Redis is down")  # its push fails: never sent
        redis_server.start()  # the same port, empty
        after = [notify(user, f"after {n}") for n in range(3)]
        for socket in opened:
            got = sorted(socket.next_frame(timeout=20)["id"] for _ in range(4))
            assert got == sorted([during.pk, *(row.pk for row in after)])
            with pytest.raises(AssertionError):
                socket.next_frame(timeout=1)  # nothing twice
    finally:
        redis_server.stop()


def test_sigterm_closes_open_sockets_at_once_with_1012(web, sockets):
    import time

    process = web()
    socket = sockets(process, UserFactory())
    started = time.monotonic()
    process.process.terminate()  # gunicorn's arbiter: graceful shutdown
    assert socket.close_code(timeout=5) == 1012  # "service restart": reconnect elsewhere
    process.process.wait(timeout=15)
    assert time.monotonic() - started < 5


def test_a_kind_turned_off_in_the_app_stops_arriving_on_open_sockets_and_only_it(web, sockets):
    process = web()
    user = UserFactory()
    socket = sockets(process, user)
    response = client_for(user).put(
        "/api/notifications/preferences/", {"low_stock": {"in_app": False}}, format="json"
    )
    assert response.status_code == 200
    with transaction.atomic():  # a muted kind, then another
        inbox.notifications_create(recipient_ids=[user.pk], kind="low_stock", message="muted")
    shown = notify(user, "shown")
    frame = socket.next_frame()
    assert (frame["id"], frame["kind"]) == (shown.pk, "message")


def test_the_sender_sees_the_read_receipt_live(web, sockets, product):
    process = web()
    staff, customer = UserFactory(is_staff=True), UserFactory()
    cart = cart_with(customer.customer, (product, 1))
    order_id = (
        client_for(customer)
        .post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")
        .json()["id"]
    )
    path = f"/api/orders/{order_id}/messages/"
    sent = client_for(staff).post(path, {"body": "Shipped today."}, format="json").json()
    staff_socket = sockets(process, staff)

    assert client_for(customer).post(path + "read/").json() == {"marked": 1}
    receipt = staff_socket.next_frame()
    assert receipt["type"] == "receipt"
    assert (receipt["order"], receipt["message_ids"]) == (order_id, [sent["id"]])
    read_at = client_for(staff).get(path).json()["results"][0]["read_at"]
    assert receipt["read_at"] == read_at
