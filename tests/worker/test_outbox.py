"""The outbox against a real Redis: rows commit with the transaction, are published after
commit, survive a dead broker, and are relayed once."""

import logging
import threading
from datetime import timedelta

import pytest
from celery import shared_task
from django.db import connection, transaction
from django.utils import timezone

from core import after_response
from core.signals import isolated_inserts
from tests.support import queued_headers, queued_task_ids
from worker import outbox
from worker.models import OutboxMessage


@shared_task(name="tests.worker.noop")
def noop(*args, **kwargs):
    """No worker runs in these tests; no app routes it: the default queue."""


TASK = noop


def queued(server) -> list[str]:
    return queued_task_ids(server.url, "default")


@pytest.mark.django_db(transaction=True)
def test_committed_enqueue_is_published_after_commit(stoppable_broker):
    with transaction.atomic():
        message = outbox.enqueue_on_commit(TASK, 7, flag=True)
        assert queued(stoppable_broker) == []  # not before the commit

    message.refresh_from_db()
    assert message.published_at is not None
    [headers] = queued_headers(stoppable_broker.url, "default")
    assert (headers["id"], headers["task"]) == (str(message.task_id), TASK.name)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_leaves_no_row_and_publishes_nothing(own_redis):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue_on_commit(TASK, 1)
        raise RuntimeError("the order failed after enqueue")

    assert not OutboxMessage.objects.exists()
    assert queued(own_redis) == []


@pytest.mark.django_db(transaction=True)
def test_rolled_back_savepoint_drops_only_its_own_row(own_redis):
    with transaction.atomic():
        kept = outbox.enqueue_on_commit(TASK, 1)
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox.enqueue_on_commit(TASK, 2)
            raise RuntimeError("a receiver failed")

    assert list(OutboxMessage.objects.values_list("args", flat=True)) == [[1]]
    assert queued(own_redis) == [str(kept.task_id)]


@pytest.mark.django_db(transaction=True)
def test_isolated_enqueues_are_one_insert_with_the_lease_taken_then_one_publish_and_one_mark(
    stoppable_broker,
):
    from django.test.utils import CaptureQueriesContext

    leases = []
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        with isolated_inserts(about="three enqueues"):
            rows = [outbox.enqueue_on_commit(TASK, n) for n in range(3)]
            before_the_end = [q["sql"].split()[0] for q in queries.captured_queries]
        leases = [row.locked_until for row in rows]

    assert before_the_end == ["BEGIN"]  # nothing written until the block ends
    assert all(lease > timezone.now() for lease in leases)  # written with the lease taken
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["BEGIN", "SAVEPOINT", "INSERT", "RELEASE", "COMMIT", "UPDATE"]
    assert sorted(queued(stoppable_broker)) == sorted(str(row.task_id) for row in rows)
    assert OutboxMessage.objects.filter(published_at__isnull=False, locked_until=None).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_publish_that_fails_oddly_never_reaches_the_caller(own_redis, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise AttributeError("something unexpected in the publisher")

    monkeypatch.setattr(outbox, "publish_messages", broken)
    with caplog.at_level(logging.ERROR), transaction.atomic():
        row = outbox.enqueue_on_commit(TASK, 1)

    # The commit stands; the row keeps its lease and the relay publishes it once that ends.
    row.refresh_from_db()
    assert row.published_at is None
    assert "publish_after_commit" in caplog.text  # Django's robust on_commit named it


@pytest.mark.django_db(transaction=True)
def test_broker_down_keeps_rows_pending_and_the_relay_publishes_them_later(stoppable_broker):
    stoppable_broker.stop()
    with transaction.atomic():
        first = outbox.enqueue_on_commit(TASK, 1)
        second = outbox.enqueue_on_commit(TASK, 2)

    for message in (first, second):
        message.refresh_from_db()
        assert message.published_at is None
    first.refresh_from_db()
    assert "Connection" in first.last_error or "connect" in first.last_error.lower()
    assert outbox.relay() == 0  # still down: nothing goes, nothing is lost
    assert outbox.pending_count() == 2

    stoppable_broker.start()
    assert outbox.relay() == 2

    assert outbox.pending_count() == 0
    assert sorted(queued(stoppable_broker)) == sorted([str(first.task_id), str(second.task_id)])
    assert outbox.relay() == 0  # published rows are not published again


@pytest.mark.django_db(transaction=True)
def test_relay_skips_leased_rows_and_takes_over_expired_leases(stoppable_broker, settings):
    outbox._broker_down_until = float("inf")  # leave rows to the relay
    held = outbox.enqueue_on_commit(TASK, 1)
    abandoned = outbox.enqueue_on_commit(TASK, 2)
    now = timezone.now()
    OutboxMessage.objects.filter(pk=held.pk).update(locked_until=now + timedelta(minutes=5))
    OutboxMessage.objects.filter(pk=abandoned.pk).update(locked_until=now - timedelta(seconds=1))

    assert outbox.relay() == 1

    assert queued(stoppable_broker) == [str(abandoned.task_id)]
    held.refresh_from_db()
    assert held.published_at is None


@pytest.mark.django_db(transaction=True)
def test_prune_deletes_only_published_rows_past_retention(own_redis):
    outbox._broker_down_until = float("inf")
    old, recent, pending = (outbox.enqueue_on_commit(TASK, n) for n in range(3))
    now = timezone.now()
    OutboxMessage.objects.filter(pk=old.pk).update(published_at=now - timedelta(days=30))
    OutboxMessage.objects.filter(pk=recent.pk).update(published_at=now - timedelta(hours=1))

    assert outbox.prune(older_than=timedelta(days=7)) == 1

    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}


@pytest.mark.django_db
def test_non_json_arguments_are_refused_in_the_callers_transaction():
    with pytest.raises(TypeError, match="JSON"):
        outbox.enqueue_on_commit(TASK, object())
    assert not OutboxMessage.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_publish_each_row_once(stoppable_broker):
    outbox._broker_down_until = float("inf")
    rows = [outbox.enqueue_on_commit(TASK, n) for n in range(60)]
    outbox._broker_down_until = 0.0
    barrier = threading.Barrier(4)
    counts = []

    def relay():
        try:
            barrier.wait(timeout=10)
            counts.append(outbox.relay(rows_per_claim=10) + outbox.relay(rows_per_claim=10))
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while outbox.relay():
        pass

    ids = queued(stoppable_broker)
    assert sorted(ids) == sorted(str(row.task_id) for row in rows)
    assert len(ids) == len(set(ids)) == 60


# --- Inside a request: published after the response ------------------------------------------


@pytest.fixture
def in_a_request():
    """This thread inside a request, as Django's request_started leaves it."""
    after_response.hold()
    yield
    after_response.run_held()


@pytest.mark.django_db(transaction=True)
def test_in_a_request_committed_rows_wait_for_the_response(own_redis, in_a_request):
    with transaction.atomic():
        first = outbox.enqueue_on_commit(TASK, 1)
    with transaction.atomic():
        second = outbox.enqueue_on_commit(TASK, 2)

    assert queued(own_redis) == []  # committed, held until the response is out
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 2

    after_response.run_held()

    assert sorted(queued(own_redis)) == sorted([str(first.task_id), str(second.task_id)])
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()
    assert (
        outbox.enqueue_on_commit(TASK, 3) and len(queued(own_redis)) == 3
    )  # outside: at once again


@pytest.mark.django_db(transaction=True)
def test_a_commits_rows_go_out_after_the_response_in_one_publish_and_one_update(
    own_redis, in_a_request
):
    from django.test.utils import CaptureQueriesContext

    with transaction.atomic(), isolated_inserts(about="three enqueues"):
        for n in range(3):
            outbox.enqueue_on_commit(TASK, n)

    with CaptureQueriesContext(connection) as queries:
        after_response.run_held()

    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE"]
    assert len(queued(own_redis)) == 3


@pytest.mark.django_db(transaction=True)
def test_rows_a_request_never_closed_go_out_when_the_thread_starts_the_next(own_redis):
    after_response.hold()
    with transaction.atomic():
        row = outbox.enqueue_on_commit(TASK, 1)

    after_response.hold()  # the next request, without request_finished for the last

    assert queued(own_redis) == [str(row.task_id)]
    after_response.run_held()


@pytest.mark.django_db(transaction=True)
def test_a_failing_publish_after_the_response_is_logged_not_raised(
    own_redis, monkeypatch, caplog, in_a_request
):
    with transaction.atomic():
        row = outbox.enqueue_on_commit(TASK, 1)

    def broken(*args, **kwargs):
        raise AttributeError("something unexpected in the publisher")

    monkeypatch.setattr(outbox, "publish_messages", broken)
    with caplog.at_level(logging.ERROR):
        after_response.run_held()  # the server's close() must not see it

    assert "after the response" in caplog.text and "failed" in caplog.text
    row.refresh_from_db()
    assert row.published_at is None and row.locked_until is not None  # the relay's, later


@pytest.mark.django_db(transaction=True)
def test_a_checkout_answers_before_its_publish(own_redis, monkeypatch):
    """Django's request_started and request_finished drive it: the view's response is
    built with nothing published; the publish runs when the server closes the response."""
    from store import views
    from tests.factories import ProductFactory, UserFactory, cart_with
    from tests.support import client_for

    user = UserFactory()  # its welcome email is queued at once: no request
    cart = cart_with(user.customer, (ProductFactory(), 1))

    def inventory_queued() -> int:
        return len(queued_task_ids(own_redis.url, "inventory"))

    seen_by_the_view = []
    original = views.OrderListCreateView.post

    def post(self, request, *args, **kwargs):
        response = original(self, request, *args, **kwargs)
        seen_by_the_view.append(inventory_queued())
        return response

    monkeypatch.setattr(views.OrderListCreateView, "post", post)
    response = client_for(user).post("/api/orders/", {"cart_id": str(cart.pk)}, format="json")

    assert response.status_code == 201
    assert seen_by_the_view == [0]  # committed, not yet published, when the response left
    assert inventory_queued() == 1  # published when the response was closed
