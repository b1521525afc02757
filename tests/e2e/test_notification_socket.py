"""The notification WebSocket, served as in production: two web processes (gunicorn +
uvicorn), a Celery worker, the channel layer on Redis between them, clients on real
sockets."""

import pytest

from notifications.services import stream_tokens
from tests.factories import UserFactory
from tests.support.clients import session_cookie
from tests.support.notifications import notify
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


def test_sigterm_closes_open_sockets_at_once_with_1012(web, sockets):
    import time

    process = web()
    socket = sockets(process, UserFactory())
    started = time.monotonic()
    process.process.terminate()  # gunicorn's arbiter: graceful shutdown
    assert socket.close_code(timeout=5) == 1012  # "service restart": reconnect elsewhere
    process.process.wait(timeout=15)
    assert time.monotonic() - started < 5
