"""queue_states on the real brokers, Redis and RabbitMQ (its management API too): every
queue asked, consumed or not, with its ready, held and scheduled messages, its consumers
and its oldest ready message's age; and the publication stamp every task message carries."""

import contextlib
import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu import Connection

from tests.support.brokers import RABBITMQ_API, rabbitmq_api_answers
from tests.support.isolation import ONE_AT_A_TIME_ON_RABBITMQ
from tests.support.parts import part_missing
from tests.support.polling import wait_until
from worker.celery import app
from worker.models import OutboxMessage
from worker.queue_redis import PUBLISHED_AT_HEADER
from worker.queues import QueueState, queue_states

pytestmark = pytest.mark.django_db

QUEUES = ["default", "emails", "inventory", "analytics"]


@pytest.fixture
def broker(stoppable_broker, settings):
    """Each broker, empty, the app pointed at it; RabbitMQ with its management API."""
    if stoppable_broker.url.startswith("amqp"):
        if not rabbitmq_api_answers():
            part_missing(f"needs RabbitMQ's management API at {RABBITMQ_API} (.ci/run enables it)")
        settings.SHOPFLOW_RABBITMQ_API = RABBITMQ_API
    return stoppable_broker


def send(queue: str, n: int = 1, **options) -> None:
    with app.producer_or_acquire() as producer:
        for i in range(n):
            app.send_task("nobody.runs.this", args=[i], queue=queue, producer=producer, **options)


@contextlib.contextmanager
def taken_unacknowledged(broker, queue: str, n: int):
    """`n` messages of `queue` taken as a worker takes them, not acknowledged, for the
    block; given back to the queue when the channel closes."""
    with Connection(broker.url) as conn:
        channel = conn.channel()
        taken = [channel.basic_get(queue, no_ack=False) for _ in range(n)]
        assert all(taken), f"{n} messages to take from {queue}"
        try:
            yield taken
        finally:
            channel.close()


def test_every_queue_asked_is_there_empty_when_nothing_was_sent(broker):
    states = queue_states(names=QUEUES)

    empty = QueueState(ready=0, held=0, scheduled=0, consumers=0, oldest_ready_age_seconds=None)
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
    assert first.ready == 3 and first.consumers == 0 and first.held == 0
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


def test_messages_taken_and_not_acknowledged_are_held_not_ready(broker):
    send("inventory", 3)
    wait_until(lambda: queue_states(names=["inventory"])["inventory"].ready == 3, timeout=10)

    with taken_unacknowledged(broker, "inventory", 2):
        wait_until(
            lambda: queue_states(names=QUEUES)["inventory"].held == 2,
            timeout=15,  # RabbitMQ's management statistics lag up to 5 s
            message="2 held",
        )
        state = queue_states(names=QUEUES)["inventory"]
        assert state.ready == 1
        assert queue_states(names=QUEUES)["analytics"].held == 0

    wait_until(lambda: queue_states(names=["inventory"])["inventory"].ready == 3, timeout=10)


def test_retries_waiting_in_the_outbox_are_scheduled_on_their_tasks_queue(broker):
    ahead = timezone.now() + timedelta(minutes=5)
    OutboxMessage.objects.create(task_name="store.apply_inventory", not_before=ahead)
    OutboxMessage.objects.create(task_name="store.apply_inventory", not_before=ahead)
    # Due already (the relay's backlog), published, or another queue's: not these.
    OutboxMessage.objects.create(task_name="store.apply_inventory")
    OutboxMessage.objects.create(
        task_name="store.apply_inventory", not_before=ahead, published_at=timezone.now()
    )
    OutboxMessage.objects.create(task_name="analytics_app.record_analytics", not_before=ahead)

    states = queue_states(names=QUEUES)

    assert {name: state.scheduled for name, state in states.items()} == {
        "default": 0,
        "emails": 0,
        "inventory": 2,
        "analytics": 1,
    }


def test_on_redis_a_message_held_for_its_eta_is_scheduled_not_held(own_redis):
    # (RabbitMQ cannot tell a message held for its ETA from another.)
    send("emails", 1, countdown=300)
    send("emails", 1)

    with taken_unacknowledged(own_redis, "emails", 2):
        state = queue_states(names=["emails"])["emails"]

    assert (state.ready, state.held, state.scheduled) == (0, 1, 1)


@pytest.mark.rabbitmq
@ONE_AT_A_TIME_ON_RABBITMQ
@pytest.mark.parametrize("stoppable_broker", ["rabbitmq"], indirect=True)
@pytest.mark.parametrize("api", ["unset", "silent"])
def test_rabbitmq_without_its_management_api_leaves_held_and_age_unknown(
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
    assert (state.ready, state.consumers) == (2, 0)  # AMQP's own counts still stand
    assert (state.held, state.oldest_ready_age_seconds) == (None, None)
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
