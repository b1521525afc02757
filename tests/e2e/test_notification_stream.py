"""The live stream, served as in production: two web processes (gunicorn + uvicorn), a
Celery worker, the channel layer on Redis between them, and a client on a real socket."""

import pytest
from django.contrib.auth import get_user_model

from notifications.services import stream_tokens
from tests.factories import UserFactory
from tests.support.clients import client_for, session_cookie
from tests.support.notifications import notify
from tests.support.streams import EventStream

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = "/api/notifications/stream/"


@pytest.fixture
def streams():
    opened = []

    def open_stream(url, **headers) -> EventStream:
        stream = EventStream(url, headers)
        opened.append(stream)
        return stream

    yield open_stream
    for stream in opened:
        stream.close()


def token_header(user) -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def test_without_last_event_id_a_stream_starts_from_now(web, streams):
    process = web()
    user = UserFactory()
    notify(user, "before")
    stream = streams(process.base + STREAM, **token_header(user))
    after = notify(user, "after")
    assert stream.next_event().id == str(after.pk)


def test_an_idle_stream_gets_heartbeat_comments(web, streams):
    process = web()
    stream = streams(process.base + STREAM, **token_header(UserFactory()))
    assert stream.next_event(timeout=5, comments=True).comment == "keep-alive"


def test_a_stream_token_opens_the_stream_and_a_bad_one_is_401(web, streams, settings):
    process = web()
    user = UserFactory()
    token = client_for(user).post("/api/notifications/stream-token/").json()["token"]

    opened = streams(f"{process.base}{STREAM}?token={token}")
    assert opened.status == 200
    sent = notify(user, "hi")
    assert opened.next_event().id == str(sent.pk)

    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    forged_user = f"{user.pk + 1}:{token.partition(':')[2]}"
    for bad in (tampered, forged_user, "nonsense"):
        refused = streams(f"{process.base}{STREAM}?token={bad}")
        assert refused.status == 401, bad
        assert b"detail" in refused.body


def test_an_expired_stream_token_is_401(web, streams):
    expired = web(SHOPFLOW_STREAM_TOKEN_SECONDS=-1)
    token = stream_tokens.stream_token_issue(user=UserFactory())
    refused = streams(f"{expired.base}{STREAM}?token={token}")
    assert refused.status == 401
    assert b"expired" in refused.body


def test_no_or_wrong_credentials_get_401_and_no_stream(web, streams):
    process = web()
    for headers in ({}, {"Authorization": "Token not-a-token"}, {"Authorization": "Basic eA=="}):
        refused = streams(process.base + STREAM, **headers)
        assert refused.status == 401, headers
        assert refused.content_type == "application/json"


def test_a_garbled_last_event_id_is_400(web, streams):
    process = web()
    headers = {**token_header(UserFactory()), "Last-Event-ID": "yesterday"}
    assert streams(process.base + STREAM, **headers).status == 400


def test_the_session_cookie_opens_the_stream(web, streams, settings):
    process = web()
    user = UserFactory()
    session = session_cookie(process, user, settings)

    stream = streams(process.base + STREAM, Cookie=f"sessionid={session}")
    assert stream.status == 200
    sent = notify(user, "hello")
    assert stream.next_event().id == str(sent.pk)
    assert get_user_model().objects.filter(pk=user.pk).exists()


def test_sigterm_ends_open_streams_after_the_graceful_seconds_not_gunicorns_timeout(web, streams):
    import time

    process = web(WEB_GRACEFUL_SECONDS=1)
    stream = streams(process.base + STREAM, **token_header(UserFactory()))
    assert stream.status == 200

    started = time.monotonic()
    process.process.terminate()  # gunicorn's arbiter: graceful shutdown
    # The stream ends after the graceful seconds, not gunicorn's 30 s graceful timeout.
    assert stream.ended.wait(timeout=5)
    assert time.monotonic() - started < 5
    process.process.wait(timeout=15)


@pytest.mark.postgres
def test_open_streams_do_not_hold_a_database_connection_each(web, streams):
    from django.db import connection

    def connections_to_this_database() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return cursor.fetchone()[0]

    process = web()
    before = connections_to_this_database()
    users = [UserFactory() for _ in range(3)]
    opened = [
        streams(process.base + STREAM, **token_header(users[n % 3]), **{"Last-Event-ID": "0"})
        for n in range(12)
    ]
    for user in users:
        notify(user, "hello")
    for stream in opened:
        assert stream.next_event().json()["message"] == "hello"
    # The web process's database reads run on a small shared pool of threads.
    assert connections_to_this_database() - before < 12 / 2


def test_what_is_committed_while_the_web_process_lost_its_redis_connections_arrives(
    web, streams, settings
):
    import redis

    from tests.support.brokers import RedisServer, channel_layer_on
    from tests.support.polling import wait_until

    # A Redis of its own: killing "every client" must reach this web process only.
    redis_server = RedisServer().start()
    try:
        process = web(CHANNEL_LAYER_URL=redis_server.url)
        channel_layer_on(settings, redis_server.url)
        user = UserFactory()
        stream = streams(process.base + STREAM, **token_header(user))
        first = notify(user, "before")
        assert stream.next_event().id == str(first.pk)

        # A network blip: Redis drops every connection the web process has.
        server = redis.Redis.from_url(redis_server.url)
        wait_until(
            lambda: server.client_kill_filter(_type="normal", skipme=True) >= 1,
            message="the web process's connections",
        )
        missed = notify(user, "while away")
        assert stream.next_event(timeout=15).id == str(missed.pk)
    finally:
        redis_server.stop()


def test_a_redis_that_stops_answering_is_left_and_the_stream_catches_up(web, streams, settings):
    """Redis frozen (SIGSTOP: the connection stays up, nothing answers), as a hung server
    or a dropped network path: the web process's watch gets no answer, and once Redis
    answers again the stream gets what was committed meanwhile."""
    import os
    import signal

    from devstack.stack import free_port
    from tests.support.brokers import RedisServer, channel_layer_on
    from tests.support.polling import wait_until

    redis_server = RedisServer().start()
    try:
        process = web(CHANNEL_LAYER_URL=redis_server.url)  # heartbeat (and watch) 1 s
        channel_layer_on(settings, redis_server.url)
        user = UserFactory()
        stream = streams(process.base + STREAM, **token_header(user))
        first = notify(user, "through the layer")
        assert stream.next_event().id == str(first.pk)  # the group is joined
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            # Committed while Redis hangs, and never published (its push goes nowhere):
            # only the stream's catching up from the database can bring it.
            channel_layer_on(settings, f"redis://127.0.0.1:{free_port()}/0")
            missed = notify(user, "while Redis hung")
            wait_until(
                lambda: "Redis does not answer" in process.output(),
                timeout=20,
                message="the web process to notice the unanswered Redis",
            )
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        event = stream.next_event(timeout=15)
        assert event.id == str(missed.pk)
    finally:
        redis_server.stop()


def test_a_stream_ends_after_its_lifetime_and_a_revoked_token_cannot_reopen_it(web, streams):

    from rest_framework.authtoken.models import Token

    process = web(SHOPFLOW_STREAM_MAX_SECONDS=2)
    user = UserFactory()
    headers = token_header(user)
    stream = streams(process.base + STREAM, **headers)
    assert stream.status == 200
    Token.objects.filter(user=user).delete()  # logged out of the API
    assert stream.ended.wait(timeout=10)  # the server ended it after its lifetime
    assert streams(process.base + STREAM, **headers).status == 401


def test_a_stream_token_opens_one_stream_only(web, streams):
    """A token in a URL may be replayed from an access log: taken once, as a socket takes
    it (it used to open a stream as often as asked within its minute)."""
    process = web()
    user = UserFactory()
    token = client_for(user).post("/api/notifications/stream-token/").json()["token"]

    assert streams(f"{process.base}{STREAM}?token={token}").status == 200
    replayed = streams(f"{process.base}{STREAM}?token={token}")
    assert replayed.status == 401
    assert b"used already" in replayed.body


def test_a_stream_token_that_cannot_be_checked_is_503_not_a_stream(web, streams):
    process = web(CHANNEL_LAYER_URL="redis://127.0.0.1:1/0")  # nothing listens there
    token = stream_tokens.stream_token_issue(user=UserFactory())

    refused = streams(f"{process.base}{STREAM}?token={token}")
    assert refused.status == 503
