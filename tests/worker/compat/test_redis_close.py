"""A worker whose link to Redis dies under the BRPOP it waits on closes its channel and
lives on (worker.compat.redis_close). With kombu's own transport the channel stays open and
the connection's close raises AttributeError, which Celery's consumer does not ignore: the
worker exits. Each test drives a real consumer as Celery's does on a connection error
(collect, then close) through a proxy to the test's Redis that goes silent: a cut link,
where each read waits out its socket timeout."""

import contextlib
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import pytest
import redis
from celery.worker.consumer.consumer import COLLECT_SOCKET_TIMEOUT
from kombu import Connection, Exchange, Queue

from devstack.stack import free_port
from tests.support.polling import wait_until
from worker.compat.redis_close import Transport

# The slow tier: the link to Redis is a proxy process.
pytestmark = pytest.mark.slow


@pytest.fixture
def silent_link(broker_url, tmp_path):
    """A link to the test's Redis (a proxy): `silent_link.silence()` holds every byte."""
    delay = tmp_path / "delay"
    delay.write_text("0")
    target = urlsplit(broker_url)
    port = free_port()
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.delay_proxy",
            f"127.0.0.1:{port}",
            f"{target.hostname}:{target.port}",
            str(delay),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "ready" in proxy.stdout.readline()
        yield Link(url=f"redis://127.0.0.1:{port}{target.path}", delay=delay)
    finally:
        proxy.kill()
        proxy.wait()


class Link:
    def __init__(self, url, delay):
        self.url = url
        self.delay = delay

    def silence(self) -> None:
        # The proxy reads its delay again for a chunk half a second after the last: a
        # BRPOP sent from now on, if it still gets through, has its reply (a second later,
        # from an empty queue) held.
        self.delay.write_text("100000")


def consumer_cut_off_waiting(link, broker_url, transport):
    """A connection holding one unacknowledged message, its next BRPOP in flight as the
    link goes silent; returns it, its consuming channel, and its unacknowledged set's key."""
    name = f"cut-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name), routing_key=name)
    with Connection(broker_url) as direct:
        direct.Producer().publish(
            {"n": 1}, exchange=queue.exchange, routing_key=name, declare=[queue]
        )
    options = {"socket_timeout": 1, "socket_connect_timeout": 1, "unacked_key": f"{name}-unacked"}
    connection = Connection(link.url, transport=transport, transport_options=options)
    held = []
    connection.Consumer([queue], callbacks=[lambda body, message: held.append(message)]).consume()
    # A second channel, subscribed to a broadcast as Celery's remote control is: closing
    # the connection closes it first, and its failure leaves the first one to the close after.
    broadcast = Queue(f"{name}-broadcast", Exchange(f"{name}-all", type="fanout"), auto_delete=True)
    connection.Consumer([broadcast], channel=connection.channel(), callbacks=[]).consume()
    wait_until(lambda: drain(connection) or held, timeout=10, message="the message delivered")
    link.silence()
    drain(connection)  # issues the next BRPOP, which the queue leaves waiting
    return connection, connection.default_channel, f"{name}-unacked"


def drain(connection) -> None:
    """One wait for a delivery: a BRPOP sent, its reply read if it comes within 0.3 s."""
    with contextlib.suppress(TimeoutError):
        connection.drain_events(timeout=0.3)


def test_a_channel_whose_brpop_dies_with_the_link_closes_and_its_message_waits_in_redis(
    silent_link, broker_url, caplog
):
    connection, channel, unacked = consumer_cut_off_waiting(silent_link, broker_url, Transport)

    connection.collect(socket_timeout=COLLECT_SOCKET_TIMEOUT)
    connection.close()  # as the consumer does next: the worker would exit if this raised

    assert channel.closed
    assert "the link to Redis died under a BRPOP" in caplog.text
    # Redis still holds the message as unacknowledged: a live worker's sweep restores it.
    assert redis.Redis.from_url(broker_url).hlen(unacked) == 1


def test_kombus_own_channel_stays_open_and_the_close_after_raises(silent_link, broker_url):
    """The canary: kombu's bug (https://github.com/celery/kombu/pull/1733's read on a cut
    link), kept so that an upgrade that fixes it says so: then this test fails, and
    worker.compat.redis_close goes."""
    connection, channel, _ = consumer_cut_off_waiting(silent_link, broker_url, "redis")

    connection.collect(socket_timeout=COLLECT_SOCKET_TIMEOUT)
    assert not channel.closed
    with pytest.raises(AttributeError, match="hostname"):
        connection.close()
