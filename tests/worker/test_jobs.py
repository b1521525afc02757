"""The job engine (worker.jobs) on PostgreSQL: enqueued in the caller's transaction,
claimed under a lease on the database's clock, ended only by the attempt that holds the
lease; lost attempts, the concurrency cap, re-drive and retention. The tests' own kind
(tests.support.echo_jobs) stands for any kind. JobTask's runs: test_job_task.py; the
side effects': tests/side_effects."""

import copy
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.clock import db_now
from tests.support.echo_jobs import ECHO_KIND, echo_jobs, lease_lapse
from tests.support.echo_jobs import echo_job as job
from tests.support.row_locks import held_by_another_transaction
from worker import locks
from worker.jobs import (
    enqueue_each_on_commit,
    enqueue_on_commit,
    job_done,
    job_fail,
    job_retry,
    jobs_claim,
    jobs_prune,
    jobs_redrive,
)
from worker.models import Job
from worker.signals import job_failed

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def database_now():
    """The database's clock as the engine reads it (Django's Now(): the statement's time)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]


def claim(limit=10, **options) -> list[Job]:
    return jobs_claim(kind=ECHO_KIND, limit=limit, **options)


# --- Enqueue ---------------------------------------------------------------------------


def test_enqueuing_a_kind_and_key_twice_makes_one_job(echo_task):
    with transaction.atomic():
        enqueue_on_commit(echo_task, 42)
        enqueue_on_commit(ECHO_KIND, "42")
        enqueue_each_on_commit(echo_task, [42, 43])

    assert sorted(Job.objects.values_list("key", "status", "attempts")) == [
        ("42", "pending", 0),
        ("43", "pending", 0),
    ]


def test_an_enqueue_whose_transaction_rolls_back_leaves_no_job():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(ECHO_KIND, 42)
        raise RuntimeError("the checkout failed after")

    assert not Job.objects.exists()


# --- Claim -----------------------------------------------------------------------------


def test_a_claim_leases_the_oldest_due_jobs_on_the_database_clock_and_counts_attempts(settings):
    echo_jobs(1, 2, 3)
    lease = timedelta(seconds=settings.SHOPFLOW_JOB_LEASE_SECONDS)

    before = database_now()
    claimed = claim(limit=2)
    after = database_now()

    assert [c.key for c in claimed] == ["1", "2"]
    assert len({c.lease_id for c in claimed}) == 1
    for leased in map(job, (1, 2)):
        assert (leased.attempts, leased.lease_id) == (1, claimed[0].lease_id)
        assert before + lease <= leased.leased_until <= after + lease
    assert (job(3).attempts, job(3).lease_id) == (0, None)


def test_a_claim_sets_the_lease_and_counts_the_attempts_in_one_statement():
    echo_jobs(1, 2, 3)

    with CaptureQueriesContext(connection) as queries:
        assert len(claim()) == 3

    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1


def test_a_second_claim_skips_the_jobs_a_lease_holds():
    echo_jobs(1, 2)
    assert len(claim()) == 2

    assert claim() == []


@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_the_jobs_another_claim_is_taking_without_waiting():
    """Two claims at once, in two connections: the second takes what the first has not
    locked, at once (SKIP LOCKED), rather than waiting for its transaction."""
    echo_jobs(1, 2, 3)

    with held_by_another_transaction(
        lambda: list(locks.jobs_due_skip_locked(kind=ECHO_KIND, limit=2))
    ):
        assert [c.key for c in claim()] == ["3"]


def test_a_job_whose_lease_lapsed_is_lost_and_claimed_alone():
    echo_jobs(1, 2, 3)
    [lost] = claim(limit=1)
    lease_lapse(1)
    assert job(1).lost

    [alone] = claim()

    assert (alone.key, alone.was_lost, alone.attempts) == ("1", True, 2)
    assert alone.lease_id != lost.lease_id
    assert [(c.key, c.was_lost) for c in claim()] == [("2", False), ("3", False)]


# --- Ends, by the attempt that holds the lease -------------------------------------------


@pytest.mark.parametrize(
    "end",
    [
        lambda j: job_done(job=j),
        lambda j: job_retry(job=j, error="TimeoutError", wait_seconds=30),
        lambda j: job_fail(job=j, error="ValueError"),
    ],
    ids=["done", "retry", "fail"],
)
def test_an_attempt_whose_lease_was_taken_over_ends_nothing(end, failures):
    echo_jobs(1)
    [held] = claim()
    stale = copy.copy(held)
    stale.lease_id = uuid.uuid4()  # the claim of an attempt before this one
    before = Job.objects.values().get()

    assert end(stale) is False

    assert Job.objects.values().get() == before
    assert failures == []
    assert end(held) is True


def test_an_ended_job_is_not_ended_again_by_its_attempt():
    """A late failure report does not undo done."""
    echo_jobs(1)
    [held] = claim()
    assert job_done(job=held) is True

    assert job_fail(job=held, error="an old attempt's error") is False
    assert job_retry(job=held, error="an old attempt's error", wait_seconds=0) is False

    assert (job(1).status, job(1).last_error) == ("done", "")


def test_a_retry_is_due_later_by_the_database_clock_and_not_claimed_before():
    echo_jobs(1)
    [held] = claim()

    before = database_now()
    assert job_retry(job=held, error="ConnectionError: gone", wait_seconds=30) is True
    after = database_now()

    retried = job(1)
    wait = timedelta(seconds=30)
    assert before + wait <= retried.due_at <= after + wait
    assert (retried.status, retried.attempts, retried.lease_id, retried.leased_until) == (
        "pending",
        1,
        None,
        None,
    )
    assert retried.last_error == "ConnectionError: gone"
    assert claim() == []
    Job.objects.filter(pk=retried.pk).update(due_at=db_now(plus_seconds=-1))  # its time came
    assert [(c.key, c.attempts, c.was_lost) for c in claim()] == [("1", 2, False)]


def test_a_failed_job_sends_job_failed_once(failures):
    echo_jobs(1)
    [held] = claim()

    assert job_fail(job=held, error="ValueError: no") is True
    assert job_fail(job=held, error="ValueError: no") is False

    assert failures == [(ECHO_KIND, "1", "ValueError: no")]
    failed = job(1)
    assert (failed.status, failed.lease_id, failed.last_error) == ("failed", None, "ValueError: no")
    assert failed.ended_at is not None


def test_a_receiver_of_job_failed_that_raises_does_not_undo_the_failure():
    def broken(sender, **kwargs):
        raise RuntimeError("a receiver's bug")

    echo_jobs(1)
    [held] = claim()
    job_failed.connect(broken, weak=False, dispatch_uid="tests.worker.broken")
    try:
        assert job_fail(job=held, error="ValueError: no") is True
    finally:
        job_failed.disconnect(dispatch_uid="tests.worker.broken")

    assert job(1).status == "failed"


# --- Re-drive and retention --------------------------------------------------------------


def test_a_redrive_brings_failed_jobs_back_due_now_and_leaves_the_others():
    echo_jobs(1, status="failed", attempts=9, ended_at=timezone.now(), last_error="x")
    echo_jobs(2, attempts=2)
    echo_jobs(3, status="done", attempts=1, ended_at=timezone.now())

    assert jobs_redrive(jobs=Job.objects.all()) == 1

    states = Job.objects.order_by("key").values_list("key", "status", "attempts", "ended_at")
    assert [row[:3] for row in states] == [
        ("1", "pending", 0),
        ("2", "pending", 2),
        ("3", "done", 1),
    ]
    assert job(1).ended_at is None
    assert sorted(c.key for c in claim()) == ["1", "2"]


def test_a_redrive_of_done_jobs_too_leaves_a_job_an_attempt_holds_to_it():
    echo_jobs(1, status="done", attempts=1, ended_at=timezone.now())
    echo_jobs(2)
    [held] = claim()

    assert jobs_redrive(jobs=Job.objects.all(), done_too=True) == 1

    assert (job(1).status, job(1).attempts, job(1).ended_at) == ("pending", 0, None)
    assert (job(2).attempts, job(2).lease_id) == (1, held.lease_id)


def test_a_prune_deletes_the_jobs_that_ended_longer_ago_than_their_kind_keeps_them():
    long_ago, lately = timezone.now() - timedelta(days=31), timezone.now() - timedelta(days=29)
    echo_jobs("done-long-ago", status="done", ended_at=long_ago)
    echo_jobs("failed-long-ago", status="failed", ended_at=long_ago)
    echo_jobs("done-lately", status="done", ended_at=lately)
    echo_jobs("pending")
    Job.objects.create(kind="kept", key="1", status="done", ended_at=long_ago)
    Job.objects.create(kind="unnamed", key="1", status="done", ended_at=long_ago)

    assert jobs_prune(kinds_kept_days={ECHO_KIND: 30, "kept": None}) == 2

    assert sorted(Job.objects.values_list("kind", "key")) == [
        ("kept", "1"),
        (ECHO_KIND, "done-lately"),
        (ECHO_KIND, "pending"),
        ("unnamed", "1"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_prune_leaves_a_job_another_transaction_holds_and_deletes_the_rest_in_batches():
    """A re-drive holding an ended job (its row locked) as the prune comes: the prune
    passes it by, rather than deleting a job that is about to be pending again."""
    long_ago = timezone.now() - timedelta(days=31)
    echo_jobs(1, 2, 3, 4, status="done", ended_at=long_ago)
    job_2 = Job.objects.filter(key="2")

    with held_by_another_transaction(
        lambda: list(job_2.select_for_update()),
        then=lambda: jobs_redrive(jobs=job_2, done_too=True),
    ):
        assert jobs_prune(kinds_kept_days={ECHO_KIND: 30}, batch=2) == 3

    assert list(Job.objects.values_list("key", "status")) == [("2", "pending")]


# --- The concurrency cap ------------------------------------------------------------------


def test_no_concurrency_key_gets_more_leases_than_the_cap_even_in_one_claim():
    echo_jobs(*(f"a{i}" for i in range(1, 6)), concurrency_key="A")
    echo_jobs("b1", concurrency_key="B")

    first = claim(limit=10, concurrency=2)

    assert sorted(c.key for c in first) == ["a1", "a2", "b1"]
    assert claim(limit=10, concurrency=2) == []
    assert job_done(job=next(c for c in first if c.key == "a1"))
    assert [c.key for c in claim(limit=10, concurrency=2)] == ["a3"]


def test_without_a_cap_a_claim_takes_any_key_up_to_its_limit():
    echo_jobs(*(f"a{i}" for i in range(1, 6)), concurrency_key="A")

    assert len(claim(limit=10)) == 5
