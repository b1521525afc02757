"""The outbox against a real Redis: rows commit with the transaction, are published after
commit, survive a dead broker, and are relayed once."""

import logging
import threading
from datetime import timedelta

import pytest
import redis
from django.db import connection, transaction
from django.utils import timezone

from tests.support import queued_task_ids
from worker import outbox
from worker.models import OutboxMessage

TASK = "worker.tests.noop"  # routed to the default queue; no worker runs in these tests


def queued(server) -> list[str]:
    return queued_task_ids(server.url, "default")


@pytest.mark.django_db(transaction=True)
def test_committed_enqueue_is_published_after_commit(own_redis):
    with transaction.atomic():
        message = outbox.enqueue(TASK, 7, flag=True)
        assert queued(own_redis) == []  # not before the commit

    message.refresh_from_db()
    assert message.published_at is not None
    assert queued(own_redis) == [str(message.task_id)]
    body = redis.Redis.from_url(own_redis.url).lindex("default", 0)
    assert b"worker.tests.noop" in body


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_leaves_no_row_and_publishes_nothing(own_redis):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue(TASK, 1)
        raise RuntimeError("the order failed after enqueue")

    assert not OutboxMessage.objects.exists()
    assert queued(own_redis) == []


@pytest.mark.django_db(transaction=True)
def test_rolled_back_savepoint_drops_only_its_own_row(own_redis):
    with transaction.atomic():
        kept = outbox.enqueue(TASK, 1)
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox.enqueue(TASK, 2)
            raise RuntimeError("a receiver failed")

    assert list(OutboxMessage.objects.values_list("args", flat=True)) == [[1]]
    assert queued(own_redis) == [str(kept.task_id)]


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_one_insert_with_the_lease_taken_then_one_publish_and_one_mark(own_redis):
    from django.test.utils import CaptureQueriesContext

    leases = []
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        with outbox.batch():
            rows = [outbox.enqueue(TASK, n) for n in range(3)]
            before_the_end = [q["sql"].split()[0] for q in queries.captured_queries]
        leases = [row.locked_until for row in rows]

    assert before_the_end == ["BEGIN"]  # nothing written until the batch ends
    assert all(lease > timezone.now() for lease in leases)  # written with the lease taken
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["BEGIN", "INSERT", "COMMIT", "UPDATE"]
    assert sorted(queued(own_redis)) == sorted(str(row.task_id) for row in rows)
    assert OutboxMessage.objects.filter(published_at__isnull=False, locked_until=None).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_publish_that_fails_oddly_never_reaches_the_caller(own_redis, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise AttributeError("something unexpected in the publisher")

    monkeypatch.setattr(outbox, "publish_messages", broken)
    with caplog.at_level(logging.ERROR), transaction.atomic():
        row = outbox.enqueue(TASK, 1)

    # The commit stands; the row keeps its lease and the relay publishes it once that ends.
    row.refresh_from_db()
    assert row.published_at is None
    assert "publish_after_commit" in caplog.text  # Django's robust on_commit named it


@pytest.mark.django_db(transaction=True)
def test_broker_down_keeps_rows_pending_and_the_relay_publishes_them_later(own_redis):
    own_redis.stop()
    with transaction.atomic():
        first = outbox.enqueue(TASK, 1)
        second = outbox.enqueue(TASK, 2)

    for message in (first, second):
        message.refresh_from_db()
        assert message.published_at is None
    first.refresh_from_db()
    assert "Connection" in first.last_error or "connect" in first.last_error.lower()
    assert outbox.relay() == 0  # still down: nothing goes, nothing is lost
    assert outbox.pending_count() == 2

    own_redis.start()
    assert outbox.relay() == 2

    assert outbox.pending_count() == 0
    assert sorted(queued(own_redis)) == sorted([str(first.task_id), str(second.task_id)])
    assert outbox.relay() == 0  # published rows are not published again


@pytest.mark.django_db(transaction=True)
def test_relay_skips_leased_rows_and_takes_over_expired_leases(own_redis, settings):
    outbox._broker_down_until = float("inf")  # leave rows to the relay
    held = outbox.enqueue(TASK, 1)
    abandoned = outbox.enqueue(TASK, 2)
    now = timezone.now()
    OutboxMessage.objects.filter(pk=held.pk).update(locked_until=now + timedelta(minutes=5))
    OutboxMessage.objects.filter(pk=abandoned.pk).update(locked_until=now - timedelta(seconds=1))

    assert outbox.relay() == 1

    assert queued(own_redis) == [str(abandoned.task_id)]
    held.refresh_from_db()
    assert held.published_at is None


@pytest.mark.django_db(transaction=True)
def test_prune_deletes_only_published_rows_past_retention(own_redis):
    outbox._broker_down_until = float("inf")
    old, recent, pending = (outbox.enqueue(TASK, n) for n in range(3))
    now = timezone.now()
    OutboxMessage.objects.filter(pk=old.pk).update(published_at=now - timedelta(days=30))
    OutboxMessage.objects.filter(pk=recent.pk).update(published_at=now - timedelta(hours=1))

    assert outbox.prune(older_than=timedelta(days=7)) == 1

    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}


@pytest.mark.django_db
def test_non_json_arguments_are_refused_in_the_callers_transaction():
    with pytest.raises(TypeError, match="JSON"):
        outbox.enqueue(TASK, object())
    assert not OutboxMessage.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_publish_each_row_once(own_redis):
    outbox._broker_down_until = float("inf")
    rows = [outbox.enqueue(TASK, n) for n in range(60)]
    outbox._broker_down_until = 0.0
    barrier = threading.Barrier(4)
    counts = []

    def relay():
        try:
            barrier.wait(timeout=10)
            counts.append(outbox.relay(batch_size=10) + outbox.relay(batch_size=10))
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while outbox.relay():
        pass

    ids = queued(own_redis)
    assert sorted(ids) == sorted(str(row.task_id) for row in rows)
    assert len(ids) == len(set(ids)) == 60
