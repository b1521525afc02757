"""queue_states on the real brokers, Redis and RabbitMQ (its management API too): every
queue asked, consumed or not, with its ready messages and its oldest ready message's age;
and the publication stamp every task message carries."""

import socket
import time

import pytest
from django.utils import timezone
from kombu import Connection

from tests.support.polling import wait_until
from worker.celery import app
from worker.queues import PUBLISHED_AT_HEADER, BrokerQueue, queue_states

pytestmark = pytest.mark.django_db

QUEUES = ["default", "emails", "inventory", "analytics"]


@pytest.fixture
def broker(stoppable_broker, settings):
    """Each broker, empty, the app pointed at it; RabbitMQ with its management API."""
    if stoppable_broker.url.startswith("amqp"):
        settings.SHOPFLOW_RABBITMQ_API = stoppable_broker.node.api
    return stoppable_broker


def send(queue: str, n: int = 1, **options) -> None:
    with app.producer_or_acquire() as producer:
        for i in range(n):
            app.send_task("nobody.runs.this", args=[i], queue=queue, producer=producer, **options)


def test_every_queue_asked_is_there_empty_when_nothing_was_sent(broker):
    states = queue_states(names=QUEUES)

    empty = BrokerQueue(ready=0, oldest_ready_age_seconds=None)
    assert states == dict.fromkeys(QUEUES, empty)


def test_ready_messages_are_counted_with_their_oldest_ones_age_growing(broker):
    sent_at = time.time()
    send("analytics", 3)

    first = wait_until(
        lambda: (
            (s := queue_states(names=QUEUES)["analytics"]).oldest_ready_age_seconds is not None
            and s
        ),
        timeout=15,  # RabbitMQ's management statistics lag up to 5 s
        message="the oldest message's age",
    )
    assert first.ready == 3
    # No older than the messages are (AMQP's timestamp is in whole seconds).
    assert 0 <= first.oldest_ready_age_seconds <= time.time() - sent_at + 1
    wait_until(
        lambda: (
            queue_states(names=QUEUES)["analytics"].oldest_ready_age_seconds
            >= first.oldest_ready_age_seconds + 1
        ),
        timeout=10,
        message="the age to grow",
    )
    assert queue_states(names=["emails"])["emails"].oldest_ready_age_seconds is None


@pytest.mark.rabbitmq
@pytest.mark.parametrize("stoppable_broker", ["rabbitmq"], indirect=True)
@pytest.mark.parametrize("api", ["unset", "silent"])
def test_rabbitmq_without_its_management_api_leaves_the_age_unknown(
    stoppable_broker, settings, api
):
    # A socket that listens and never answers: the kernel accepts, nobody replies.
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    settings.SHOPFLOW_RABBITMQ_API = "" if api == "unset" else f"http://u:p@127.0.0.1:{port}/api"
    send("default", 2)

    wait_until(lambda: queue_states(names=["default"])["default"].ready == 2, timeout=10)

    started = time.monotonic()
    state = queue_states(names=["default"])["default"]

    assert time.monotonic() - started < 4  # the API's wait is bounded (2 s)
    assert state.ready == 2  # AMQP's own count still stands
    assert state.oldest_ready_age_seconds is None
    silent.close()


def test_every_task_message_carries_its_publication_time(broker):
    before = timezone.now().timestamp()
    send("default", 1)

    [message] = taken_messages(broker, "default")

    assert before <= message.headers[PUBLISHED_AT_HEADER] <= timezone.now().timestamp()
    assert int(before) <= message.properties["timestamp"] <= timezone.now().timestamp()


def taken_messages(broker, queue: str) -> list:
    with Connection(broker.url) as conn:
        channel = conn.channel()
        messages = []
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            messages.append(message)
        channel.close()
    return messages
