"""Which errors a task retries (transient) and which end it at once (permanent); and the
dead-letter requeue, which goes back through the outbox once per letter."""

import errno
import smtplib
import socket

import pytest
from celery import shared_task
from django.db import IntegrityError
from django.db import OperationalError as DbOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from tests.support.processes import relay_drain
from worker.celery import app as celery_app
from worker.dead_letters import dead_letters_requeue
from worker.models import DeadLetter, OutboxMessage
from worker.tasks_base import ReliableTask, TransientError, is_transient

# --- is_transient ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        smtplib.SMTPDataError(451, b"4.3.0 Try again later"),
        smtplib.SMTPDataError(421, b"4.7.0 Too many connections"),
        smtplib.SMTPSenderRefused(452, b"4.3.1 Insufficient storage", "shop@example.com"),
        smtplib.SMTPRecipientsRefused(
            {"a@example.com": (450, b"mailbox busy"), "b@example.com": (451, b"later")}
        ),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        smtplib.SMTPConnectError(421, b"Service not available"),
        DbOperationalError("database is locked"),
        BrokerOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        TimeoutError("timed out"),
        OSError(errno.ETIMEDOUT, "Connection timed out"),  # the kernel's ETIMEDOUT
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_transient_errors_are_retried(exc):
    assert is_transient(exc) is True


@pytest.mark.parametrize(
    "exc",
    [
        smtplib.SMTPDataError(554, b"5.7.1 Message rejected"),
        smtplib.SMTPDataError(550, b"5.1.1 No such user"),
        smtplib.SMTPSenderRefused(553, b"5.1.8 Sender rejected", "shop@example.com"),
        smtplib.SMTPAuthenticationError(535, b"5.7.8 Bad credentials"),
        smtplib.SMTPRecipientsRefused({"gone@example.com": (550, b"no such user")}),
        ValueError("invalid literal for int()"),
        TypeError("unsupported operand"),
        KeyError("order_id"),
        IntegrityError("UNIQUE constraint failed"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_permanent_errors_are_not_retried(exc):
    assert is_transient(exc) is False


def test_smtp_4xx_is_transient_and_5xx_permanent_for_the_same_error_type():
    assert is_transient(smtplib.SMTPDataError(499, b"")) is True
    assert is_transient(smtplib.SMTPDataError(500, b"")) is False
    assert is_transient(smtplib.SMTPDataError(400, b"")) is True
    assert is_transient(smtplib.SMTPDataError(399, b"")) is False


def test_recipients_refused_with_one_permanent_code_is_permanent():
    # Retrying cannot make the 550 mailbox exist; the 4xx recipient alone would be worth it.
    refused = smtplib.SMTPRecipientsRefused(
        {"busy@example.com": (451, b"try later"), "gone@example.com": (550, b"no such user")}
    )
    assert is_transient(refused) is False


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        OSError(errno.EHOSTUNREACH, "No route to host"),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
    ],
    ids=["ENETUNREACH", "EHOSTUNREACH", "EAI_AGAIN"],
)
def test_network_unreachable_errors_are_transient(exc):
    assert is_transient(exc) is True


def test_recipients_refused_with_only_temporary_codes_is_transient():
    refused = smtplib.SMTPRecipientsRefused(
        {"a@example.com": (421, b"closing"), "b@example.com": (452, b"too many recipients")}
    )
    assert is_transient(refused) is True


# --- Dead letters ------------------------------------------------------------------------


def dead_letter(task_name="email_app.send_welcome_email", args=(1,), kwargs=None):
    return DeadLetter.objects.create(
        task_id="4c0ffee0-0000-0000-0000-000000000000",
        task_name=task_name,
        args=list(args),
        kwargs=kwargs or {},
        queue="emails",
        exception="SMTPDataError: (554, b'rejected')",
        attempts=6,
    )


@pytest.mark.django_db
def test_requeue_enqueues_each_letter_through_the_outbox():
    welcome = dead_letter("email_app.send_welcome_email", args=[41])
    analytics = dead_letter("analytics_app.record_analytics", args=[[7]])

    requeued = dead_letters_requeue(dead_letter_ids=[welcome.pk, analytics.pk])

    assert requeued == 2
    rows = list(OutboxMessage.objects.order_by("task_name"))
    assert [(r.task_name, r.args, r.kwargs) for r in rows] == [
        ("analytics_app.record_analytics", [[7]], {}),
        ("email_app.send_welcome_email", [41], {}),
    ]
    assert relay_drain() == 2  # to the (real) test broker
    for letter in (welcome, analytics):
        letter.refresh_from_db()
        assert letter.requeued_at is not None


@pytest.mark.django_db
def test_second_requeue_of_the_same_letters_returns_zero_and_adds_no_outbox_row():
    letter = dead_letter(args=[41])
    assert dead_letters_requeue(dead_letter_ids=[letter.pk]) == 1
    letter.refresh_from_db()
    first_requeued_at = letter.requeued_at

    assert dead_letters_requeue(dead_letter_ids=[letter.pk]) == 0

    assert OutboxMessage.objects.count() == 1
    letter.refresh_from_db()
    assert letter.requeued_at == first_requeued_at


@pytest.mark.django_db
def test_requeue_of_a_mixed_selection_requeues_only_the_new_letters():
    done = dead_letter(args=[1])
    dead_letters_requeue(dead_letter_ids=[done.pk])
    fresh = dead_letter(args=[2])

    assert dead_letters_requeue(dead_letter_ids=[done.pk, fresh.pk]) == 1

    assert sorted(OutboxMessage.objects.values_list("args", flat=True)) == [[1], [2]]


@pytest.mark.django_db
def test_requeue_of_unknown_ids_requeues_nothing():
    assert dead_letters_requeue(dead_letter_ids=[123_456]) == 0
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_requeue_rolled_back_with_its_transaction_leaves_the_letter_requeueable():
    from django.db import transaction

    letter = dead_letter(args=[5])
    with pytest.raises(RuntimeError), transaction.atomic():
        dead_letters_requeue(dead_letter_ids=[letter.pk])
        raise RuntimeError("the admin action failed afterwards")

    letter.refresh_from_db()
    assert letter.requeued_at is None
    assert not OutboxMessage.objects.exists()
    assert dead_letters_requeue(dead_letter_ids=[letter.pk]) == 1


def test_a_soft_time_limit_is_transient():
    from celery.exceptions import SoftTimeLimitExceeded

    assert is_transient(SoftTimeLimitExceeded())


# --- Celery's control exceptions and missing rows ------------------------------------------


RUNS: list[int] = []


@shared_task(bind=True, base=ReliableTask, name="tests.retries_once_then_succeeds")
def retries_once_then_succeeds(self):
    RUNS.append(self.request.retries)
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "done"


@shared_task(bind=True, base=ReliableTask, name="tests.ignores_itself")
def ignores_itself(self):
    from celery.exceptions import Ignore

    RUNS.append(-1)
    raise Ignore()


@shared_task(bind=True, base=ReliableTask, name="tests.blocked_for_three_seconds")
def blocked_for_three_seconds(self):
    import time

    RUNS.append(time.monotonic())
    if self.request.retries == 0:
        raise TransientError("held by another delivery", retry_after=3)
    return "done"


def test_a_transient_error_that_says_when_it_passes_is_retried_no_sooner(
    in_process_worker, settings
):
    """The backoff here waits two seconds at most (fast_retries); the error asks for three,
    and is given them, past the longest backoff."""
    from tests.support.polling import wait_until

    RUNS.clear()
    celery_app.send_task("tests.blocked_for_three_seconds")

    wait_until(lambda: len(RUNS) == 2, timeout=30, message="the retry")
    first, second = RUNS
    assert second - first >= 3
    # The retry waited in the outbox, due three seconds on, under the task's own id. The
    # relay marks a row after the broker took it, so the run can come before the mark.
    rows = OutboxMessage.objects.filter(task_name="tests.blocked_for_three_seconds")
    wait_until(lambda: rows.filter(published_at__isnull=False).exists(), message="the mark")
    [row] = rows
    assert row.retries == 1
    assert (row.published_at - row.created_at).total_seconds() >= 3


def test_a_task_that_asks_for_a_retry_is_retried_not_dead_lettered(in_process_worker):
    RUNS.clear()
    result = celery_app.send_task("tests.retries_once_then_succeeds", ignore_result=False)

    assert result.get(timeout=30) == "done"
    assert RUNS == [0, 1]
    assert not DeadLetter.objects.exists()


def test_ignore_passes_through_without_a_dead_letter(in_process_worker):
    from celery.signals import task_postrun

    from tests.support.polling import wait_until

    finished = []

    def record(task_id=None, **kwargs):
        finished.append(task_id)

    task_postrun.connect(record, weak=False)
    try:
        RUNS.clear()
        result = celery_app.send_task("tests.ignores_itself")
        # Sent once the task and its failure handling (a dead letter) are over.
        wait_until(lambda: result.id in finished, message="the task to finish")
    finally:
        task_postrun.disconnect(record)
    assert RUNS == [-1]
    assert not DeadLetter.objects.exists()


@pytest.mark.django_db
def test_a_task_about_a_row_that_is_gone_returns_false_and_logs(caplog):
    from email_app.tasks import send_welcome_email

    with caplog.at_level("WARNING", logger="worker.tasks_base"):
        assert send_welcome_email.apply(args=[424242]).get() is False

    assert "send_welcome_email(424242,)" in caplog.text
    assert not DeadLetter.objects.exists()
