"""ReliableTask: the base of every side-effect task.

- acks_late + reject_on_worker_lost: a message is acknowledged after the task ran, and
  requeued if the worker process dies under it.
- Transient errors (SMTP 4xx and dropped connections, database operational errors,
  broker and network errors) are retried with exponential backoff and full jitter, up to
  SHOPFLOW_TASK_MAX_RETRIES times.
- Anything else, or a transient error past the last retry, ends in a DeadLetter row and
  `on_dead_letter()`, which subclasses use to mark their side effect failed.
"""

import errno
import logging
import smtplib
import socket

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError as DbInterfaceError
from django.db import OperationalError as DbOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

logger = logging.getLogger(__name__)

# Network errors that are not ConnectionError subclasses but pass with time.
TRANSIENT_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}


def is_transient(exc: BaseException) -> bool:
    """True for errors that a later attempt may not meet."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, socket.gaierror):
        return exc.errno == socket.EAI_AGAIN  # DNS said "try again"; other answers stand
    if isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS:
        return True
    return isinstance(
        exc,
        DbOperationalError
        | DbInterfaceError
        | BrokerOperationalError
        | ConnectionError
        | TimeoutError,
    )


class ReliableTask(Task):
    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    # Retries after the first attempt; None reads SHOPFLOW_TASK_MAX_RETRIES at run time.
    max_retries = None

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if self.request.called_directly or not is_transient(exc):
                raise
            limit = self.retry_limit()
            if self.request.retries >= limit:
                logger.error(
                    "%s[%s] gave up after %s retries: %r",
                    self.name,
                    self.request.id,
                    self.request.retries,
                    exc,
                )
                raise
            countdown = get_exponential_backoff_interval(
                factor=settings.SHOPFLOW_TASK_RETRY_BACKOFF,
                retries=self.request.retries,
                maximum=settings.SHOPFLOW_TASK_RETRY_BACKOFF_MAX,
                full_jitter=True,
            )
            logger.warning(
                "%s[%s] transient error, retry %s/%s in %ss: %r",
                self.name,
                self.request.id,
                self.request.retries + 1,
                limit,
                countdown,
                exc,
            )
            raise self.retry(exc=exc, countdown=countdown) from exc

    def retry_limit(self) -> int:
        if self.max_retries is not None:
            return self.max_retries
        return settings.SHOPFLOW_TASK_MAX_RETRIES

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from .dead_letters import dead_letter_record

        dead_letter = dead_letter_record(
            task_id=task_id,
            task_name=self.name,
            args=list(args or []),
            kwargs=dict(kwargs or {}),
            queue=(self.request.delivery_info or {}).get("routing_key", ""),
            exception=f"{type(exc).__name__}: {exc}",
            traceback=str(einfo),
            attempts=self.request.retries + 1,
        )
        try:
            self.on_dead_letter(exc=exc, args=args, kwargs=kwargs)
        except Exception:
            logger.exception(
                "%s: on_dead_letter failed for dead letter %s", self.name, dead_letter.pk
            )

    def on_dead_letter(self, *, exc, args, kwargs) -> None:
        """Hook for subclasses: called once a task has failed for good."""

    def on_requeue(self, *, args, kwargs) -> None:
        """Hook for subclasses: called when an operator re-enqueues a dead letter."""
