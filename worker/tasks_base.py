"""JobTask: the task of one kind of job (worker.jobs), woken by a message, claiming and
running its kind's due jobs; and what decides an error's fate: a transient error
(is_transient) is retried after the one backoff (retry_countdown), any other fails the
job. docs/architecture.md, "The job"."""

import contextlib
import errno
import logging
import math
import smtplib
import socket

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError as DbInterfaceError
from django.db import OperationalError as DbOperationalError
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerOperationalError

from core import clock
from core.telemetry import span_continuing

from . import jobs

logger = logging.getLogger(__name__)

# Network errors that are not ConnectionError subclasses but pass with time.
TRANSIENT_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}


def last_start_by() -> float:
    """The one run budget (docs/reliability.md): a run that starts now starts no unit of
    work (an order, a group of notifications) after this clock.monotonic() value, half the
    soft time limit away, so that one started then still ends within the time limit
    whatever the pool (the mail worker's threads enforce none); the rest goes back, due
    now, to the next run."""
    return clock.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT / 2


def retry_countdown(*, retries: int, retry_after: float = 0) -> int:
    """The one backoff (every kind's but the webhooks' schedule): seconds before the next
    attempt after `retries` earlier ones, exponential with full jitter, and no sooner than
    the error asks (a push service's Retry-After), even past the longest backoff: a retry
    that came early would only use up the attempts."""
    countdown = get_exponential_backoff_interval(
        factor=settings.SHOPFLOW_TASK_RETRY_BACKOFF,
        retries=retries,
        maximum=settings.SHOPFLOW_TASK_RETRY_BACKOFF_MAX,
        full_jitter=True,
    )
    return max(countdown, math.ceil(retry_after))


class TransientError(Exception):
    """Raise (a subclass of) this from a task to ask for a retry with backoff, no sooner
    than `retry_after` seconds when it is given (the moment the obstacle passes)."""

    def __init__(self, *args, retry_after: float = 0):
        super().__init__(*args)
        self.retry_after = retry_after


# Errors a later attempt may not meet, whatever they say. SoftTimeLimitExceeded: stuck on a
# slow peer (SMTP, the database), which the next try may not be.
TRANSIENT_TYPES = (
    TransientError,
    smtplib.SMTPConnectError,
    smtplib.SMTPServerDisconnected,
    SoftTimeLimitExceeded,
    DbOperationalError,
    DbInterfaceError,
    BrokerOperationalError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """True for errors that a later attempt may not meet."""
    if isinstance(exc, TRANSIENT_TYPES):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN  # DNS said "try again"; other answers stand
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


class JobTask(Task):
    """The task of one kind of job (worker.jobs): a message wakes it, it claims up to
    `batch` due jobs of its kind and runs its function for each, one after another:

        @shared_task(base=JobTask, kind="inventory", name="store.apply_inventory")
        def apply_inventory(key: str) -> bool:
            return stock.inventory_apply(order_id=int(key))

    Each job ends on its own: done; on a transient error (is_transient) due again after
    `retry_wait(attempts)` until `max_attempts` are counted; failed otherwise. With
    `atomic`, the function and the job's done record share one transaction (work in the
    database: it commits with its record, or not at all). The lease (SHOPFLOW_JOB_LEASE_
    SECONDS) outlasts the whole run: no job starts after half the soft time limit."""

    kind: str = ""
    batch: int = 1
    atomic: bool = False
    concurrency: int = 0  # at most this many leases at once per concurrency key; 0: no cap
    keep_days: int | None = 30  # how long an ended job is kept (None: for good)
    ignore_result = True
    store_errors_even_if_ignored = True

    @property
    def max_attempts(self) -> int:
        return settings.SHOPFLOW_TASK_MAX_RETRIES + 1

    def retry_wait(self, *, attempts: int, error: BaseException) -> float:
        """Seconds before the next attempt after `attempts` counted ones failed with
        `error`: the one backoff, no sooner than the error asks."""
        return retry_countdown(retries=attempts - 1, retry_after=getattr(error, "retry_after", 0))

    def __call__(self, *hint, **kwargs):
        """One run: claim, then each job in turn; the keys done."""
        if self.request.called_directly and hint:
            return self.run(*hint, **kwargs)  # the function itself, as in a test or a shell
        budget_ends = last_start_by()
        claimed = jobs.jobs_claim(kind=self.kind, limit=self.batch, concurrency=self.concurrency)
        done = []
        for index, job in enumerate(claimed):
            if index and clock.monotonic() > budget_ends:
                logger.warning(
                    "%s: the run's time is up; %s job(s) back", self.name, len(claimed) - index
                )
                jobs.jobs_release(jobs=claimed[index:])
                break
            try:
                with span_continuing(f"job {self.kind}", [job.trace_context]):
                    if self._one(job):
                        done.append(job.key)
            except BaseException:
                # The end of this job could not be recorded (the database went away, a
                # time limit): its lease brings it back; the ones not started go back now.
                with contextlib.suppress(Exception):
                    jobs.jobs_release(jobs=claimed[index + 1 :])
                raise
        return done

    def _one(self, job) -> bool:
        if job.was_lost and job.attempts > self.max_attempts:
            # Its every attempt lost its worker (killed it, or ran past the hard limit):
            # the next would too.
            error = f"its {job.attempts - 1} attempts all lost their worker before they ended"
            logger.error("%s(%s) failed for good: %s", self.name, job.key, error)
            self._end(job, jobs.job_fail, error_text=error)
            return False
        if job.was_lost:
            logger.warning("%s(%s): its last attempt lost its worker; alone", self.name, job.key)
        try:
            with transaction.atomic() if self.atomic else contextlib.nullcontext():
                result = self.run(job.key)
                if not self._end(job, jobs.job_done, result=result):
                    raise LeaseLost(job)
        except LeaseLost:
            logger.warning(
                "%s(%s): its lease ran out before it ended; not recorded", self.name, job.key
            )
            return False
        except ObjectDoesNotExist as exc:
            # What the job is about is gone: nothing to do, and nothing a retry would change.
            logger.warning("%s(%s): %s; nothing to do", self.name, job.key, exc)
            self._end(job, jobs.job_done)
            return False
        except Exception as exc:
            self._ended_by(job, exc)
            return False
        self.job_ended(job=job, result=result)
        return True

    def _ended_by(self, job, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if is_transient(exc) and job.attempts < self.max_attempts:
            wait = self.retry_wait(attempts=job.attempts, error=exc)
            logger.warning(
                "%s(%s): transient error, attempt %s/%s, again in %ss: %s",
                self.name,
                job.key,
                job.attempts,
                self.max_attempts,
                round(wait),
                error,
            )
            self._end(job, jobs.job_retry, error=exc, error_text=error, wait_seconds=wait)
        else:
            logger.error(
                "%s(%s) failed for good after %s attempt(s): %s",
                self.name,
                job.key,
                job.attempts,
                error,
                exc_info=exc,
            )
            self._end(job, jobs.job_fail, error=exc, error_text=error)

    def _end(self, job, end, *, result=None, error=None, error_text=None, **how) -> bool:
        """Record the attempt's end (`end`: job_done, job_retry or job_fail) and the kind's
        own record of it (attempt_ended) in one transaction, only while the attempt still
        holds the job's lease; False when it does not."""
        if error_text is not None:
            how["error"] = error_text
        # Inside an atomic kind's transaction, no savepoint: a failure here fails it whole.
        with transaction.atomic(savepoint=False):
            if not end(job=job, **how):
                return False
            outcome = {jobs.job_done: "done", jobs.job_retry: "retry"}.get(end, "failed")
            self.attempt_ended(job=job, outcome=outcome, result=result, error=error)
        return True

    def attempt_ended(self, *, job, outcome: str, result, error: BaseException | None) -> None:
        """Hook: the attempt's end ("done", "retry" or "failed") is being recorded, in that
        transaction (a webhook delivery's attempt row): `result` when done, else `error`."""

    def job_ended(self, *, job, result) -> None:
        """Hook: `job` is recorded done (a metric, a log line)."""


class LeaseLost(Exception):
    """The attempt's lease ran out before it ended: another attempt may run the job."""


def job_tasks() -> dict[str, JobTask]:
    """{kind: its task} for every JobTask the app has."""
    from .celery import app

    return {
        task.kind: task for task in app.tasks.values() if isinstance(task, JobTask) and task.kind
    }
