"""Which errors a job retries (transient) and which end it at once (permanent). How a job
ends on each: tests/worker/test_job_task.py."""

import errno
import smtplib
import socket

import pytest
from django.db import IntegrityError
from django.db import OperationalError as DbOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from worker.tasks_base import is_transient

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


def test_a_soft_time_limit_is_transient():
    from celery.exceptions import SoftTimeLimitExceeded

    assert is_transient(SoftTimeLimitExceeded())
