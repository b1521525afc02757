"""The migrations that made deliveries jobs (webhooks 0002, then 0004), run on deliveries
as the old mechanism left them: each one's state is its job's, its event its job's payload
and its attempts its job's, the API's history stays, and what served the old mechanism
(its outbox rows, its own table and prune, beat's entries) is gone."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("webhooks", "0001_initial"), ("worker", "0002_job")]
AFTER = [("webhooks", "0002_deliveries_to_jobs")]
LATEST = [("webhooks", "0004_deliveries_are_jobs")]
OLD_BEAT_TASKS = [
    "webhooks.redrive_deliveries",
    "webhooks.disable_failing_endpoints",
    "webhooks.prune_deliveries",
]


def migrate(targets):
    """Migrate webhooks to `targets`; the models as every migration applied then has them."""
    MigrationExecutor(connection).migrate(targets)
    executor = MigrationExecutor(connection)  # its loader reads what is applied now
    return executor.loader.project_state(list(executor.loader.applied_migrations)).apps


@pytest.fixture
def old():
    """The models before it; the database migrated to the end again after the test,
    whatever happened in it (the tests after it expect it so)."""
    yield migrate(BEFORE)
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def old_deliveries(old, *, now, later):
    """An endpoint's deliveries as the old mechanism left them: msg_01 pending (due
    `later`), msg_02 in flight under a lease, msg_03 delivered (its attempt an hour before
    `now`), msg_04 failed (its dead letter's error). The endpoint."""
    Endpoint, Delivery = (
        old.get_model("webhooks", "Endpoint"),
        old.get_model("webhooks", "Delivery"),
    )
    Attempt = old.get_model("webhooks", "Attempt")
    endpoint = Endpoint.objects.create(url="https://x/", secret="whsec_x")
    rows = {
        "msg_01": {"status": "pending", "tries": 2, "next_attempt_at": later},
        "msg_02": {"status": "pending", "tries": 1, "leased_until": later, "waiting": False},
        "msg_03": {"status": "delivered", "tries": 1, "next_attempt_at": None},
        "msg_04": {"status": "failed", "tries": 8, "next_attempt_at": None},
    }
    for pk, fields in rows.items():
        Delivery.objects.create(
            id=pk, endpoint=endpoint, event_type="webhook.test", payload={"n": pk}, **fields
        )
    Attempt.objects.create(delivery_id="msg_03", at=now - timedelta(hours=1), status_code=200)
    DeadLetter = old.get_model("worker", "DeadLetter")
    DeadLetter.objects.create(
        task_id="t", task_name="webhooks.deliver", args=["msg_04"], exception="RuntimeError: a bug"
    )
    return endpoint


def old_mechanism(old) -> None:
    """What served the old mechanism: msg_01's outbox row and beat's entries."""
    OutboxMessage = old.get_model("worker", "OutboxMessage")
    OutboxMessage.objects.create(task_name="webhooks.deliver", args=["msg_01"])
    PeriodicTask = old.get_model("django_celery_beat", "PeriodicTask")
    interval = old.get_model("django_celery_beat", "IntervalSchedule").objects.create(
        every=30, period="seconds"
    )
    for task in OLD_BEAT_TASKS:
        PeriodicTask.objects.create(name=task, task=task, interval=interval)


def test_pending_deliveries_become_due_jobs_and_ended_ones_keep_their_history(old):
    now = timezone.now()
    later = now + timedelta(minutes=5)
    endpoint = old_deliveries(old, now=now, later=later)
    old_mechanism(old)

    new = migrate(AFTER)

    Job = new.get_model("worker", "Job")
    jobs = {job.key: job for job in Job.objects.filter(kind="webhook_delivery")}
    assert {key: (job.status, job.attempts) for key, job in jobs.items()} == {
        "msg_01": ("pending", 2),
        "msg_02": ("pending", 1),  # in flight then: due again, no lease
        "msg_03": ("done", 1),
        "msg_04": ("failed", 8),
    }
    assert abs((jobs["msg_01"].due_at - later).total_seconds()) < 1
    assert {job.concurrency_key for job in jobs.values()} == {str(endpoint.pk)}
    assert jobs["msg_02"].lease_id is None and jobs["msg_02"].due_at <= timezone.now()
    assert jobs["msg_03"].ended_at == now - timedelta(hours=1)  # its last attempt's time
    assert jobs["msg_01"].ended_at is None and jobs["msg_04"].ended_at is not None
    assert not new.get_model("worker", "OutboxMessage").objects.exists()
    assert jobs["msg_04"].last_error == "RuntimeError: a bug"  # its dead letter's, which went
    assert not new.get_model("worker", "DeadLetter").objects.exists()
    beat = new.get_model("django_celery_beat", "PeriodicTask").objects
    assert not beat.filter(task__in=OLD_BEAT_TASKS[:2]).exists()
    # A job whose delivery was pruned before it (the old prune counted from the event).
    Job.objects.create(kind="webhook_delivery", key="msg_09", status="done")

    migrate(LATEST)

    # The API reads them, their events and attempts from their jobs.
    from webhooks.models import Delivery as Current
    from webhooks.selectors import delivery_get

    deliveries = {pk: delivery_get(delivery_id=pk) for pk in ("msg_01", "msg_02", "msg_03")}
    assert {pk: d.delivery_status for pk, d in deliveries.items()} == {
        "msg_01": "pending",
        "msg_02": "pending",
        "msg_03": "delivered",
    }
    assert Current.objects.get(key="msg_04").delivery_status == "failed"
    event = deliveries["msg_03"].payload
    assert (event["type"], event["data"]) == ("webhook.test", {"n": "msg_03"})
    assert [a.status_code for a in deliveries["msg_03"].attempt_records.all()] == [200]
    assert deliveries["msg_03"].endpoint_id == endpoint.pk
    assert not beat.filter(task__in=OLD_BEAT_TASKS).exists()
    assert not Current.objects.filter(key="msg_09").exists()  # no event to send: gone
