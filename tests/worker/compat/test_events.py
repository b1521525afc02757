"""Events (Flower's, the worker heartbeats) with bounded publications: a worker whose broker
went out of reach keeps its loop (worker.compat.events); and the canary, Celery's heartbeat
asking kombu for retries without a limit."""

import threading
import time
from unittest import mock

from celery.worker.heartbeat import Heart

from worker.celery import app


def test_a_heartbeat_to_a_broker_gone_away_gives_up_within_seconds(own_redis):
    """Celery's worker heartbeat asks for a retry with no limit: it held the worker's loop
    for as long as the broker was away. Here it gives up within seconds, the event kept
    for the next publication that gets through (the dispatcher's buffer)."""
    with app.connection_for_write() as connection:
        dispatcher = app.events.Dispatcher(connection, hostname="bounded@test", enabled=True)
        dispatcher.send("worker-heartbeat", retry=True)  # the broker answers
        own_redis.stop()
        sent = threading.Thread(
            target=dispatcher.send, args=("worker-heartbeat",), kwargs={"retry": True}, daemon=True
        )
        started = time.monotonic()
        sent.start()
        sent.join(timeout=60)
        took = time.monotonic() - started

    assert not sent.is_alive(), "the heartbeat waits for the broker without end"
    assert took < 20


def test_celerys_heartbeat_asks_for_retries_with_no_policy_so_without_a_limit():
    """The canary (https://github.com/celery/celery/pull/4804): Celery's heartbeat asks
    for `retry` and names no policy, which kombu's `ensure` takes as no limit. When it
    names one, this test fails and worker.compat.events goes."""
    eventer = mock.Mock(enabled=True)
    Heart(timer=mock.Mock(), eventer=eventer, interval=2).start()

    (event,), fields = eventer.send.call_args
    assert event == "worker-online"
    assert fields["retry"] is True
    assert "retry_policy" not in fields
