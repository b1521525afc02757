"""The outbox against a real broker: rows commit with the transaction, the relay publishes
them (a task's pending lists joined into one message), a dead broker loses nothing, and
every row goes out once."""

import threading
import uuid
from datetime import timedelta

import pytest
from celery import shared_task
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.signals import isolated_inserts
from tests.support.brokers import queued_messages, queued_task_ids
from tests.support.polling import wait_until
from tests.support.processes import relay_drain, relay_thread
from worker import locks, outbox
from worker.models import OutboxMessage


@shared_task(name="tests.worker.noop")
def noop(*args, **kwargs):
    """No worker runs in these tests; no app routes it: the default queue."""


@shared_task(name="tests.worker.batched", batch_max=3)
def batched(ids):
    """A task that takes a batch: the relay joins its rows' lists, three items at most."""


TASK = noop


def queued(server) -> list[str]:
    return queued_task_ids(server.url, "default")


def carried(server) -> list[list]:
    """The arguments of each message waiting in the default queue, oldest first."""
    return [args for _headers, args in queued_messages(server.url, "default")]


@pytest.mark.django_db(transaction=True)
def test_a_committed_row_waits_for_the_relay_which_publishes_it_once(stoppable_broker):
    with transaction.atomic():
        message = outbox.enqueue_on_commit(TASK, 7, flag=True)
    assert queued(stoppable_broker) == []  # the web never talks to the broker

    assert relay_drain() == 1

    message.refresh_from_db()
    assert message.published_at is not None and message.locked_until is None
    assert queued(stoppable_broker) == [str(message.task_id)]
    assert relay_drain() == 0  # published rows are not published again


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_leaves_no_row_and_publishes_nothing(own_redis):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue_on_commit(TASK, 1)
        raise RuntimeError("the order failed after enqueue")

    assert not OutboxMessage.objects.exists()
    assert relay_drain() == 0
    assert queued(own_redis) == []


@pytest.mark.django_db(transaction=True)
def test_rolled_back_savepoint_drops_only_its_own_row(own_redis):
    with transaction.atomic():
        kept = outbox.enqueue_on_commit(TASK, 1)
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox.enqueue_on_commit(TASK, 2)
            raise RuntimeError("a receiver failed")

    assert list(OutboxMessage.objects.values_list("args", flat=True)) == [[1]]
    relay_drain()
    assert queued(own_redis) == [str(kept.task_id)]


@pytest.mark.django_db(transaction=True)
def test_isolated_enqueues_are_one_insert_and_nothing_else(own_redis):
    with (
        CaptureQueriesContext(connection) as queries,
        transaction.atomic(),
        isolated_inserts(about="three enqueues"),
    ):
        for n in range(3):
            outbox.enqueue_on_commit(TASK, n)
        before_the_end = [q["sql"].split()[0] for q in queries.captured_queries]

    assert before_the_end == ["BEGIN"]  # nothing written until the block ends
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["BEGIN", "SAVEPOINT", "INSERT", "RELEASE", "COMMIT"]
    assert OutboxMessage.objects.filter(published_at=None, locked_until=None).count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_relay_joins_a_batch_tasks_lists_up_to_its_batch_max_and_sends_others_alone(
    own_redis,
):
    with transaction.atomic():
        for n in range(1, 8):
            outbox.enqueue_on_commit(batched, [n])
        loner = outbox.enqueue_on_commit(TASK, 1)
        outbox.enqueue_on_commit(batched, [8, 9])  # a list of two: never split
        outbox.enqueue_on_commit(batched, "not a list")  # not a batch: alone

    assert relay_drain() == 10

    assert carried(own_redis) == [[[1, 2, 3]], [[4, 5, 6]], [[7, 8, 9]], [1], ["not a list"]]
    first = OutboxMessage.objects.filter(task_name=batched.name).order_by("pk").first()
    [head, *_] = queued_messages(own_redis.url, "default")
    assert head[0]["id"] == str(first.task_id)  # a message is its first row's task
    assert str(loner.task_id) in queued(own_redis)
    assert not OutboxMessage.objects.filter(published_at=None).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rows", [1, 7])
def test_a_relay_pass_is_the_same_statements_whatever_it_publishes(own_redis, rows):
    """The rows read and locked and their lease in one transaction, then their mark: the
    relay's cost an order falls as its passes gather more rows."""
    with transaction.atomic():
        for n in range(rows):
            outbox.enqueue_on_commit(batched, [n])

    with CaptureQueriesContext(connection) as queries:
        assert outbox.relay_once().published == rows

    statements = [q["sql"] for q in queries.captured_queries]
    leased, marked = ["BEGIN", "SELECT", "UPDATE", "COMMIT"], ["UPDATE"]
    assert [sql.split()[0] for sql in statements] == leased + marked
    assert "FOR UPDATE SKIP LOCKED" in statements[1]
    assert len(carried(own_redis)) == -(-rows // 3)


@pytest.mark.django_db(transaction=True)
def test_broker_down_keeps_rows_pending_and_a_later_relay_publishes_them(stoppable_broker):
    stoppable_broker.stop()
    with transaction.atomic():
        first = outbox.enqueue_on_commit(TASK, 1)
        second = outbox.enqueue_on_commit(TASK, 2)

    assert relay_drain() == 0  # down: nothing goes, nothing is lost
    first.refresh_from_db()
    assert first.published_at is None and first.locked_until is None
    assert "Connection" in first.last_error or "connect" in first.last_error.lower()
    assert OutboxMessage.objects.filter(published_at=None).count() == 2

    stoppable_broker.start()
    assert relay_drain() == 2

    assert not OutboxMessage.objects.filter(published_at=None).exists()
    assert sorted(queued(stoppable_broker)) == sorted([str(first.task_id), str(second.task_id)])


@pytest.mark.django_db(transaction=True)
def test_relay_skips_leased_rows_and_takes_over_expired_leases(stoppable_broker):
    held = outbox.enqueue_on_commit(TASK, 1)
    abandoned = outbox.enqueue_on_commit(TASK, 2)
    now = timezone.now()
    OutboxMessage.objects.filter(pk=held.pk).update(locked_until=now + timedelta(minutes=5))
    OutboxMessage.objects.filter(pk=abandoned.pk).update(locked_until=now - timedelta(seconds=1))

    assert relay_drain() == 1

    assert queued(stoppable_broker) == [str(abandoned.task_id)]
    held.refresh_from_db()
    assert held.published_at is None


@pytest.mark.django_db(transaction=True)
def test_a_retry_waits_in_the_outbox_until_due_then_goes_with_its_task_id_and_count(
    own_redis,
):
    """Not a countdown message held by the broker (and a worker): a row due later, by the
    database's clock, published then under the task's own id and retry count."""
    task_id = "5f1f3c1e-0000-4000-8000-000000000001"
    outbox.retry_enqueue(batched, task_id=task_id, args=[[4]], kwargs={}, retries=2, countdown=60)
    outbox.enqueue_on_commit(batched, [5])  # a first try: never joined with a retry

    assert relay_drain() == 1
    assert carried(own_redis) == [[[5]]]

    OutboxMessage.objects.filter(retries=2).update(not_before=timezone.now())
    assert relay_drain() == 1
    headers, args = queued_messages(own_redis.url, "default")[-1]
    assert (headers["id"], headers["retries"], args) == (task_id, 2, [[4]])
    assert not headers.get("eta")


@pytest.mark.django_db(transaction=True)
def test_retries_of_a_batched_task_go_out_as_recorded_never_joined(own_redis):
    """An order its task sent out alone (its last attempt lost its worker) stays alone."""
    for order_id in (4, 5):
        outbox.retry_enqueue(
            batched, task_id=str(uuid.uuid4()), args=[[order_id]], kwargs={}, retries=0, countdown=0
        )
    outbox.enqueue_on_commit(batched, [6])
    outbox.enqueue_on_commit(batched, [7])

    assert relay_drain() == 4
    assert sorted(carried(own_redis)) == [[[4]], [[5]], [[6, 7]]]


@pytest.mark.django_db
def test_a_relay_holds_rows_by_the_databases_clock_not_a_hosts_that_runs_ahead(monkeypatch):
    """Another relay's hold of 30 s, read by a host whose clock runs a minute ahead: still
    held, so the rows are not published twice at once."""
    row = outbox.enqueue_on_commit(TASK, 1)
    OutboxMessage.objects.filter(pk=row.pk).update(
        locked_until=timezone.now() + timedelta(seconds=30)
    )
    ahead = timezone.now() + timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: ahead)

    assert not locks.outbox_rows_due().exists()
    assert outbox.relay_once().claimed == 0


@pytest.mark.django_db(transaction=True)
def test_prune_deletes_only_published_rows_past_retention(own_redis, settings):
    settings.SHOPFLOW_OUTBOX_RETENTION_DAYS = 7
    old, recent, pending = (outbox.enqueue_on_commit(TASK, n) for n in range(3))
    now = timezone.now()
    OutboxMessage.objects.filter(pk=old.pk).update(published_at=now - timedelta(days=30))
    OutboxMessage.objects.filter(pk=recent.pk).update(published_at=now - timedelta(hours=1))

    assert outbox.outbox_prune() == 1

    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}


@pytest.mark.django_db
def test_non_json_arguments_are_refused_in_the_callers_transaction():
    with pytest.raises(TypeError, match="JSON"):
        outbox.enqueue_on_commit(TASK, object())
    assert not OutboxMessage.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_publish_each_row_once(own_redis):
    for n in range(60):
        outbox.enqueue_on_commit(batched, [n])
    barrier = threading.Barrier(4)

    def relay():
        try:
            barrier.wait(timeout=10)
            relay_drain(rows_per_claim=10)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while relay_drain():
        pass

    items = [n for [ids] in carried(own_redis) for n in ids]
    assert sorted(items) == list(range(60))  # each row's list once, in some message
    ids = queued(own_redis)
    assert len(ids) == len(set(ids))


# --- The relay service's loop ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_relay_publishes_a_quiet_shops_row_at_once_and_gathers_a_busy_ones(own_redis, settings):
    settings.SHOPFLOW_OUTBOX_POLL_MS = 20
    settings.SHOPFLOW_OUTBOX_LINGER_MS = 1500
    with relay_thread():
        first = outbox.enqueue_on_commit(batched, [1])
        wait_until(lambda: carried(own_redis), timeout=5, message="the first row published")
        # The relay now lingers: what commits meanwhile goes out in one message.
        outbox.enqueue_on_commit(batched, [2])
        outbox.enqueue_on_commit(batched, [3])
        wait_until(lambda: len(carried(own_redis)) == 2, timeout=5, message="the others")

    assert carried(own_redis) == [[[1]], [[2, 3]]]
    assert queued_messages(own_redis.url, "default")[0][0]["id"] == str(first.task_id)


@pytest.mark.django_db(transaction=True)
def test_the_relay_rides_out_a_dead_broker_and_publishes_once_it_is_back(
    stoppable_broker, settings, monkeypatch
):
    monkeypatch.setattr(outbox, "FAILURE_PAUSE_SECONDS", 0.2)
    settings.SHOPFLOW_OUTBOX_POLL_MS = 20
    stoppable_broker.stop()
    with relay_thread():
        row = outbox.enqueue_on_commit(TASK, 1)
        wait_until(
            lambda: OutboxMessage.objects.filter(pk=row.pk).exclude(last_error="").exists(),
            timeout=10,
            message="a failed attempt",
        )
        stoppable_broker.start()
        wait_until(lambda: queued(stoppable_broker), timeout=10, message="the publish")

    assert queued(stoppable_broker) == [str(row.task_id)]
    assert not OutboxMessage.objects.filter(published_at=None).exists()


@pytest.mark.django_db(transaction=True)
def test_a_checkout_writes_its_rows_and_publishes_nothing_itself(own_redis):
    from tests.factories import ProductFactory, UserFactory, cart_with
    from tests.support.clients import client_for

    user = UserFactory()
    OutboxMessage.objects.all().delete()  # the welcome email's
    cart = cart_with(user.customer, (ProductFactory(), 1))

    response = client_for(user).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")

    assert response.status_code == 201
    order_id = response.json()["id"]
    names = sorted(OutboxMessage.objects.filter(published_at=None).values_list("task_name", "args"))
    assert names == [
        ("analytics_app.record_analytics", [[order_id]]),
        ("email_app.send_confirmation_email", [[order_id]]),
        ("store.apply_inventory", [[order_id]]),
    ]
    assert queued_task_ids(own_redis.url, "inventory") == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_relay_rides_out_a_terminated_database_connection(own_redis, settings, monkeypatch):
    monkeypatch.setattr(outbox, "FAILURE_PAUSE_SECONDS", 0.2)
    settings.SHOPFLOW_OUTBOX_POLL_MS = 20
    with relay_thread():
        outbox.enqueue_on_commit(TASK, 1)
        wait_until(lambda: len(queued(own_redis)) == 1, timeout=5, message="the first publish")
        with connection.cursor() as cursor:  # every other session of this database: the relay's
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        outbox.enqueue_on_commit(TASK, 2)
        wait_until(lambda: len(queued(own_redis)) == 2, timeout=10, message="after the kill")

    assert not OutboxMessage.objects.filter(published_at=None).exists()
