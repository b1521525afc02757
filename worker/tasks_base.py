"""ReliableTask: the base of every task that must not be lost (side_effects.base builds the
side-effect tasks' on it). A transient error is retried with backoff as an outbox row due
later, anything else is dead-lettered, and a message whose retry or dead letter cannot be
written goes back to its queue: docs/reliability.md, "What brings work back"."""

import contextlib
import errno
import logging
import math
import smtplib
import socket
import time
import traceback
from typing import NoReturn

from celery import Task
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError as DbInterfaceError
from django.db import OperationalError as DbOperationalError
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerOperationalError

from core import clock
from core.telemetry import span_continuing

from . import dead_letters, jobs, outbox

logger = logging.getLogger(__name__)

# Network errors that are not ConnectionError subclasses but pass with time.
TRANSIENT_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}


# A retry the database could not record: its message goes back to the queue after this.
REQUEUE_PAUSE_SECONDS = 5.0

# Raised by a task (or by Celery inside it) to steer its own message, not failures.
CONTROL_EXCEPTIONS = (Retry, Ignore, Reject)


def last_start_by() -> float:
    """The one run budget (docs/reliability.md): a run that starts now starts no unit of
    work (an order, a group of notifications) after this clock.monotonic() value, half the
    soft time limit away, so that one started then still ends within the time limit
    whatever the pool (the mail worker's threads enforce none); the rest goes back to the
    outbox or to the next run."""
    return clock.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT / 2


def retry_countdown(*, retries: int, retry_after: float = 0) -> int:
    """The one backoff (a task's retries, a notification delivery's attempts): seconds
    before the next try after `retries` earlier ones, exponential with full jitter, and no
    sooner than the error asks (an email another delivery holds: when its claim may be
    taken over), even past the longest backoff: a retry that came early would only use up
    the retries."""
    countdown = get_exponential_backoff_interval(
        factor=settings.SHOPFLOW_TASK_RETRY_BACKOFF,
        retries=retries,
        maximum=settings.SHOPFLOW_TASK_RETRY_BACKOFF_MAX,
        full_jitter=True,
    )
    return max(countdown, math.ceil(retry_after))


class PoisonMessage(Exception):
    """The broker delivered this message again too often: each delivery lost its worker."""


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


class ReliableTask(Task):
    # A side effect's state lives in its own rows; a stored success would be a second,
    # costlier copy. Failures are still stored (and dead-lettered).
    ignore_result = True
    store_errors_even_if_ignored = True
    # Past the hard time limit the message goes back to its queue (Celery's own option),
    # comes back flagged redelivered and is counted as a lost attempt: the one mechanism
    # for a run that does not end. Acknowledged instead, it would rest on a dead letter
    # written later from the worker's main process, and be lost if that write failed.
    acks_on_timeout = False

    def __call__(self, *args, **kwargs):
        try:
            self._count_redelivery()
            return super().__call__(*args, **kwargs)
        except CONTROL_EXCEPTIONS:
            raise  # Celery's own: a retry the task asked for, Ignore, Reject
        except ObjectDoesNotExist as exc:
            # The row the task is about is gone (deleted since it was enqueued, or never
            # committed): nothing to do, and nothing a retry would change.
            logger.warning("%s%r: %s; nothing to do", self.name, tuple(args), exc)
            return False
        except Exception as exc:
            if self.request.called_directly:
                raise
            countdown = self._retry_due(exc, about=f"[{self.request.id}]")
            if countdown is not None:
                # This message is acknowledged (Celery's Retry); the retry waits in the outbox.
                self._retry_record(
                    task_id=self.request.id,
                    args=self.request.args or [],
                    kwargs=self.request.kwargs or {},
                    retries=self.request.retries + 1,
                    countdown=countdown,
                )
                raise Retry(exc=exc, when=countdown) from exc
            self._give_up(exc, args, kwargs, traceback_text=traceback.format_exc())
            raise

    def _count_redelivery(self) -> None:
        """Raise PoisonMessage when the broker has delivered this message again more often
        than SHOPFLOW_TASK_MAX_REDELIVERIES (with acks_late, what a worker lost comes
        back, flagged redelivered: a message that kills its process would otherwise come
        back forever). Costs nothing on a first delivery."""
        redelivered = (self.request.delivery_info or {}).get("redelivered")
        if self.request.called_directly or not redelivered:
            return
        count = outbox.redelivery_record(
            task_id=self.request.id,
            task_name=self.name,
            args=self.request.args,
            kwargs=self.request.kwargs,
        )
        if count > settings.SHOPFLOW_TASK_MAX_REDELIVERIES:
            raise PoisonMessage(
                f"delivered {count + 1} times, and the worker was lost every time before "
                "it finished: not run again"
            )
        logger.warning("%s[%s] delivered again (%s)", self.name, self.request.id, count)

    def _retry_due(self, exc: Exception, *, about: str) -> int | None:
        """Seconds until the retry of the run (of `about`) that failed with `exc`, logged;
        None when it is not retried: not transient, or past the last retry."""
        retries, limit = self.request.retries, settings.SHOPFLOW_TASK_MAX_RETRIES
        if not is_transient(exc) or retries >= limit:
            return None
        countdown = retry_countdown(retries=retries, retry_after=getattr(exc, "retry_after", 0))
        logger.warning(
            "%s%s: transient error, retry %s/%s in %ss: %r",
            self.name,
            about,
            retries + 1,
            limit,
            countdown,
            exc,
        )
        return countdown

    def _retry_record(
        self, *, task_id: str, args, kwargs, retries: int, countdown: float, then=None
    ):
        """The one retry path: an outbox row due in `countdown` seconds
        (worker.outbox.retry_enqueue), written with `then()` (a caller's own record of it)
        in one transaction. Should the database refuse, this message goes back to its
        queue instead (_requeue_after_pause)."""
        try:
            with transaction.atomic():
                outbox.retry_enqueue(
                    self,
                    task_id=task_id,
                    args=args,
                    kwargs=kwargs,
                    retries=retries,
                    countdown=countdown,
                )
                if then is not None:
                    then()
        except Exception as record_error:
            self._requeue_after_pause(record_error, unrecorded="retry")

    def _give_up(self, exc: Exception, args, kwargs, *, traceback_text: str) -> None:
        """Dead-letter the task while its message is still unacknowledged: if the database
        cannot take the record, the message goes back to the queue instead of vanishing."""
        logger.error(
            "%s[%s] failed for good after %s attempt(s): %r",
            self.name,
            self.request.id,
            self.request.retries + 1,
            exc,
        )
        try:
            self._dead_letter(
                task_id=self.request.id,
                args=args,
                kwargs=kwargs,
                queue=(self.request.delivery_info or {}).get("routing_key", ""),
                exc=exc,
                traceback_text=traceback_text,
                attempts=self.request.retries + 1,
            )
        except Exception as record_error:
            self._requeue_after_pause(record_error, unrecorded="dead letter")

    def _requeue_after_pause(self, record_error: Exception, *, unrecorded: str) -> NoReturn:
        """The database refused this message's retry or dead letter: the message goes
        back to its queue, after a short pause, not at once, which would spin while the
        database is away (a message past its last retry comes back to the same path)."""
        logger.warning(
            "%s[%s]: could not record the %s; back to the queue in %ss",
            self.name,
            self.request.id,
            unrecorded,
            REQUEUE_PAUSE_SECONDS,
            exc_info=True,
        )
        # A soft time limit that lands in the pause must not skip the Reject: the message
        # would be acknowledged as failed, with neither a retry nor a dead letter.
        with contextlib.suppress(SoftTimeLimitExceeded):
            time.sleep(REQUEUE_PAUSE_SECONDS)
        # Logged above with its traceback; the Reject travels light (a pool process's
        # result through its pipe, which a hard time limit may cut mid-write).
        raise Reject(repr(record_error), requeue=True) from None

    def _dead_letter(self, *, task_id, args, kwargs, queue, exc, traceback_text, attempts):
        with transaction.atomic():
            dead_letters.dead_letter_record(
                task_id=task_id,
                task_name=self.name,
                args=list(args or []),
                kwargs=dict(kwargs or {}),
                queue=queue,
                exception=f"{type(exc).__name__}: {exc}",
                traceback=traceback_text,
                attempts=attempts,
            )
            self.on_dead_letter(exc=exc, args=args or [], kwargs=kwargs or {})

    def on_dead_letter(self, *, exc, args, kwargs) -> None:
        """Hook for subclasses: called once a task has failed for good."""

    def on_requeue(self, *, args, kwargs) -> None:
        """Hook for subclasses: called when an operator re-enqueues a dead letter."""


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
    # The message is only a wake-up: acknowledged when the run starts, lost costs latency.
    acks_late = False

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
        with transaction.atomic():
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
