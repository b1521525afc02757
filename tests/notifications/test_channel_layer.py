"""notifications.channel_layer.layer_call: synchronous code's way to the channel layer, on one event
loop per process that keeps its Redis connections (against the test process's own Redis)."""

import asyncio
import os
import threading

import pytest
import redis
from channels.layers import get_channel_layer

from notifications import live
from notifications.channel_layer import layer_call
from tests.support.brokers import RedisServer, channel_layer_on
from tests.support.polling import wait_until


async def running_loop():
    return asyncio.get_running_loop()


def test_calls_from_any_thread_run_on_one_loop(settings, broker_url):
    loops = [layer_call(running_loop), layer_call(running_loop)]
    thread = threading.Thread(target=lambda: loops.append(layer_call(running_loop)))
    thread.start()
    thread.join(10)
    assert len(loops) == 3 and loops[0] is loops[1] is loops[2]
    assert loops[0].is_running()


def test_publishes_reuse_one_redis_connection(settings, broker_url):
    """asgiref's async_to_sync made a loop, so channels-redis a connection, per publish."""
    channel_layer_on(settings, broker_url)
    server = redis.Redis.from_url(broker_url)
    messages = [(live.user_group(0), {"type": live.EVENT, "event": {"id": 0}})]
    assert live._send(messages)
    before = server.info("stats")["total_connections_received"]
    for _ in range(20):
        assert live._send(messages)
    # Server-wide, but the server is this test process's own: at most its background
    # threads (the session's in-process worker) connect meanwhile.
    assert server.info("stats")["total_connections_received"] - before < 5


@pytest.fixture
def own_layer_redis(settings):
    """A Redis of the test's own for the channel layer: the test closes every client's
    connection, and the session's broker serves others in this process (the Celery app's
    pooled producers)."""
    server = RedisServer().start()
    channel_layer_on(settings, server.url)
    yield server.url
    server.stop()


def test_a_push_goes_through_after_redis_closed_the_loops_connection(own_layer_redis):
    """A restart or an idle timeout closes a kept connection: the next push still arrives."""
    layer = get_channel_layer()
    channel = layer_call(layer.new_channel)
    layer_call(layer.group_add, live.user_group(7), channel)
    server = redis.Redis.from_url(own_layer_redis)
    db = str(server.connection_pool.connection_kwargs.get("db", 0))
    killed = 0
    for client in server.client_list():
        if client["db"] == db and int(client["id"]) != server.client_id():
            killed += server.client_kill_filter(_id=client["id"])
    assert killed >= 1
    assert live._send([(live.user_group(7), {"type": live.EVENT, "event": {"id": 7}})])

    async def receive():
        return await asyncio.wait_for(layer.receive(channel), 5)

    assert layer_call(receive) == {"type": live.EVENT, "event": {"id": 7}}


def test_a_call_past_its_timeout_raises_and_is_cancelled():
    cancelled = threading.Event()

    async def stuck():
        try:
            await asyncio.Event().wait()  # never set: a call that never ends
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        layer_call(stuck, timeout=0.2)
    wait_until(cancelled.is_set, timeout=5, message="the stuck call was not cancelled")


@pytest.mark.slow  # a fork, as a prefork worker's pool makes
def test_a_forked_child_gets_a_loop_of_its_own():
    """A Celery pool process is forked: its parent's loop thread does not run there."""
    parent = layer_call(running_loop)
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only for a fresh, running loop
        try:
            child = layer_call(running_loop, timeout=5)
            os._exit(0 if child is not parent and child.is_running() else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
