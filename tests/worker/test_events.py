"""Events (Flower's, the worker heartbeats) with bounded publications: a worker whose broker
went out of reach keeps its loop (worker.events)."""

import threading
import time

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
