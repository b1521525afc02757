"""The one engine for work that must happen (docs/architecture.md, "The job"): a Job row is
written in the transaction that asks for it (`enqueue_on_commit`), claimed in batches by
the kind's task under a lease on the database's clock (`jobs_claim`), and ended by the
attempt that holds the lease: done, retried at a later due time, or failed."""

import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from core.clock import db_now
from core.signals import insert_isolated, send_robust_isolated
from core.telemetry import trace_carrier

from . import locks
from .models import Job, held_by_an_attempt
from .signals import job_failed

logger = logging.getLogger(__name__)

Status = Job.Status


def kind_of(task) -> str:
    """The kind of work `task` (a JobTask, or its kind's name) performs."""
    return getattr(task, "kind", task)


def enqueue_on_commit(
    task, key, *, concurrency_key: str = "", delay_seconds: float = 0, payload=None
) -> Job:
    """One job of `task`'s kind about `key`, in the caller's transaction: the dispatcher
    wakes the kind's workers once it commits (nothing is published before). A job of the
    same kind and key already there is left as it is: enqueueing twice does the work once.
    Inside core.signals.isolated_inserts() the row is isolated from the caller's."""
    [job] = enqueue_each_on_commit(
        task, [key], concurrency_key=concurrency_key, delay_seconds=delay_seconds, payload=payload
    )
    return job


def enqueue_each_on_commit(
    task, keys, *, concurrency_key: str = "", delay_seconds: float = 0, payload=None
) -> list[Job]:
    """enqueue_on_commit for each of `keys`, in one INSERT."""
    context, kind = trace_carrier(), kind_of(task)
    due = {"due_at": db_now(plus_seconds=delay_seconds)} if delay_seconds else {}
    fixed = {"concurrency_key": concurrency_key, "trace_context": context, "payload": payload}
    jobs = [Job(kind=kind, key=str(key), **fixed, **due) for key in keys]
    insert_isolated(jobs, ignore_conflicts=True)
    return jobs


def enqueue_kinds(*, kinds: list[str], key) -> None:
    """One job of each of `kinds` about `key`, in the caller's transaction itself (not
    isolated: if the database refuses them, the caller's transaction fails with them)."""
    context = trace_carrier()
    Job.objects.bulk_create(
        [Job(kind=kind, key=str(key), trace_context=context) for kind in kinds],
        ignore_conflicts=True,
    )


def jobs_claim(*, kind: str, limit: int, concurrency: int = 0) -> list[Job]:
    """Up to `limit` due jobs of `kind`, each leased for SHOPFLOW_JOB_LEASE_SECONDS and its
    attempt counted, in one short transaction; jobs another worker holds are skipped. A job
    whose last attempt lost its worker (`lost`) is claimed alone: it may kill this worker
    too, and the others must not go down with it. With `concurrency`, no concurrency key
    gets more than that many leases at once."""
    with transaction.atomic():
        if concurrency:
            locks.jobs_claim_serialise(kind=kind)
        due = list(locks.jobs_due_skip_locked(kind=kind, limit=limit, concurrency=concurrency))
        if concurrency:
            due = _within_cap(due, concurrency=concurrency)
        lost = [job for job in due if job.lost]
        if lost:
            due = lost[:1]
        if due:
            lease_id = uuid.uuid4()
            Job.objects.filter(pk__in=[job.pk for job in due]).update(
                leased_until=db_now(plus_seconds=settings.SHOPFLOW_JOB_LEASE_SECONDS),
                lease_id=lease_id,
                attempts=F("attempts") + 1,
            )
            for job in due:
                job.was_lost, job.lease_id = job.lost, lease_id
                job.attempts += 1
    return due


def _within_cap(due: list[Job], *, concurrency: int) -> list[Job]:
    """The jobs of `due` (due longest first, each with its key's `running` leases) that
    leave no concurrency key more than `concurrency` leases once this claim takes them: the
    query's count is per row, before any of them is claimed."""
    room: dict[str, int] = {}
    kept = []
    for job in due:
        left = room.setdefault(job.concurrency_key, concurrency - job.running)
        if left > 0:
            kept.append(job)
            room[job.concurrency_key] = left - 1
    return kept


def _held(job: Job):
    """`job` while the attempt that claimed it still holds it."""
    return Job.objects.filter(pk=job.pk, lease_id=job.lease_id, status=Status.PENDING)


def job_done(*, job: Job) -> bool:
    """Done, recorded by the attempt that holds it (in the work's transaction when the
    kind's work is in one); False when that attempt lost it."""
    return bool(
        _held(job).update(
            status=Status.DONE, ended_at=Now(), leased_until=None, lease_id=None, last_error=""
        )
    )


def job_retry(*, job: Job, error: str, wait_seconds: float) -> bool:
    """Due again in `wait_seconds` (the database's clock), its lease given up."""
    return bool(
        _held(job).update(
            due_at=db_now(plus_seconds=wait_seconds),
            leased_until=None,
            lease_id=None,
            last_error=error[:4000],
        )
    )


def jobs_release(*, jobs: list[Job]) -> None:
    """Give these claimed jobs back unstarted: due now, their attempt not counted."""
    for job in jobs:
        _held(job).update(leased_until=None, lease_id=None, attempts=F("attempts") - 1)


def job_fail(*, job: Job, error: str) -> bool:
    """Failed for good (a dead letter, re-drivable from the admin), and job_failed sent in
    the same transaction, its receivers' rows isolated (core.signals): staff are told if
    and only if the failure is recorded."""
    # No savepoint: inside a caller's transaction, a failure here fails all of it.
    with transaction.atomic(savepoint=False):
        failed = bool(
            _held(job).update(
                status=Status.FAILED,
                ended_at=Now(),
                leased_until=None,
                lease_id=None,
                last_error=error[:4000],
            )
        )
        if failed:
            send_robust_isolated(
                job_failed,
                sender=Job,
                about=f"job {job.kind}:{job.key} failed",
                kind=job.kind,
                key=job.key,
                error=error,
            )
    return failed


def jobs_redrive(*, jobs, done_too: bool = False) -> int:
    """Failed jobs (a queryset), and done ones with `done_too`, due again now, their
    attempts counted from zero: an operator's re-drive (the admin), a redelivery. A job an
    attempt holds is left to it."""
    ended = [Status.FAILED, Status.DONE] if done_too else [Status.FAILED]
    return jobs.filter(status__in=ended).update(
        status=Status.PENDING,
        due_at=Now(),
        attempts=0,
        ended_at=None,
        leased_until=None,
        lease_id=None,
    )


def jobs_due_now(*, jobs) -> int:
    """Pending jobs (a queryset) that no attempt holds, due now: tried at once."""
    return jobs.filter(status=Status.PENDING, lease_id__isnull=True).update(due_at=Now())


def jobs_fail_pending(*, jobs, error: str) -> int:
    """Pending jobs (a queryset) that no attempt holds, failed for good without an attempt
    (what they were for is gone), no job_failed sent: the caller tells whom it must."""
    return (
        jobs.filter(status=Status.PENDING)
        .exclude(held_by_an_attempt())
        .update(status=Status.FAILED, ended_at=Now(), lease_id=None, last_error=error[:4000])
    )


def jobs_prune(*, kinds_kept_days: dict[str, int | None], batch: int = 1000) -> int:
    """Delete the jobs of each kind that ended longer ago than it keeps them (None: kept
    for good, as an order's side effects are: the API shows them), with jobs_delete."""
    return sum(
        jobs_delete(jobs=locks.jobs_ended_skip_locked(kind=kind, days=days), batch=batch)
        for kind, days in kinds_kept_days.items()
        if days is not None
    )


def jobs_delete(*, jobs, batch: int = 1000) -> int:
    """Delete `jobs` (a queryset that locks them, skipping those another transaction
    holds) with the rows that point to them (a webhook delivery's attempts), a batch at a
    time, each locked in a transaction of its own (a savepoint inside the caller's): Django
    reads the rows, then deletes them by id, so a re-drive between the two waits, then
    finds its job gone. Returns how many jobs."""
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(jobs.values_list("pk", flat=True)[:batch])
            deleted += Job.objects.filter(pk__in=ids).delete()[1].get(Job._meta.label, 0)
        if len(ids) < batch:
            return deleted
