"""The canary of worker/compat/redis_unacked.py: a message taken as a worker takes it, not
acknowledged, read back from kombu's `unacked` hash with its queue; one sent with a
countdown counted apart. Fails once kombu stores that hash otherwise."""

import json
import time
import uuid

from kombu import Connection, Exchange, Queue

from worker.compat.redis_unacked import unacked_by_queue, unacked_read


def test_a_message_taken_and_not_acknowledged_is_read_back_with_its_queue(broker_url):
    name = f"unacked-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name), routing_key=name)
    ahead = time.time() + 300
    options = {"unacked_key": f"{name}-unacked", "unacked_index_key": f"{name}-index"}
    with Connection(broker_url, transport_options=options) as conn:
        with conn.Producer() as producer:
            for headers in ({}, {"eta": _iso(ahead)}):
                producer.publish(
                    {"n": 1},
                    exchange=queue.exchange,
                    routing_key=name,
                    declare=[queue],
                    headers=headers,
                )
        channel = conn.channel()
        taken = [channel.basic_get(name, no_ack=False) for _ in range(2)]
        assert all(taken)
        with channel.conn_or_acquire() as client, client.pipeline() as pipe:
            unacked_read(pipe, channel)
            [values] = pipe.execute()
        channel.client.delete(f"{name}-unacked", f"{name}-index")

    # kombu 5.7's layout: [message, exchange, routing_key], the message as published.
    assert sorted(json.loads(value)[1:] for value in values) == [[name, name], [name, name]]
    assert unacked_by_queue(values, now=time.time()) == ({name: 1}, {name: 1})


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()
