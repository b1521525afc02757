"""One long-lived connection to the mail server per worker thread: opening one (TCP, the
greeting, EHLO, STARTTLS and AUTH where used) costs more than sending the message. It is
reopened after sitting idle long enough for a server to drop it, and a message is sent
again once on a fresh connection when the server closed it under us (it refused a command
before accepting anything). A read that timed out is raised instead: smtplib reports it as
a disconnection too, but that server may hold the whole message.

A send has a deadline (core.deadline), opening a connection included: past it the
connection is cut, whatever the server does, and SendTimeout is raised. The email worker's
threads pool enforces no task time limit, and a claim must not be taken over while its
send may still go out (email_app.services.claims)."""

import contextlib
import smtplib
import threading

from django.core.mail import get_connection

from core import clock
from core.deadline import Deadline, DeadlineExceeded
from worker.compat.smtp_cut import smtp_connection_cut

# Servers commonly drop connections idle for a minute or more (RFC 5321 asks for at
# least five); reopening after half a minute avoids meeting a dead one.
IDLE_SECONDS = 30.0

_local = threading.local()


class SendTimeout(DeadlineExceeded):
    """The send passed its deadline and its connection was cut: not sent, as far as the
    client knows (a server that had the whole message may deliver it)."""


def send_message(message, *, deadline: float) -> None:
    """Send one EmailMessage over this thread's connection, by `deadline` (a
    clock.monotonic() value). Raises what the backend raises, or SendTimeout."""
    sent = False
    try:
        with Deadline(deadline - clock.monotonic(), about="the SMTP send") as cut:
            _send_by(message, cut)
            sent = True  # the server accepted it: a cut cannot make it unsent
    except DeadlineExceeded as exc:
        if not sent:
            raise SendTimeout(str(exc)) from exc
        _close()  # cut as the send returned: sent, but the connection is gone
    _local.used_at = clock.monotonic()


def _send_by(message, cut: Deadline) -> None:
    connection, reused = _connection(cut)
    # A kept connection's socket was opened under another deadline: cut through the
    # backend (worker.compat.smtp_cut). `connection` is read at the cut: the one in use.
    cut.on_cut(lambda: smtp_connection_cut(connection))
    try:
        connection.send_messages([message])
    except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
        _close()
        if not reused or cut.passed or isinstance(exc.__context__, TimeoutError):
            raise
        connection, _ = _connection(cut)
        connection.send_messages([message])
    except BaseException:
        _close()  # the conversation is in an unknown state: start the next one afresh
        raise


def _connection(cut: Deadline):
    """(connection, reused?)"""
    connection = getattr(_local, "connection", None)
    idle = clock.monotonic() - getattr(_local, "used_at", 0.0)
    if connection is not None and idle <= IDLE_SECONDS:
        return connection, True
    _close()  # idle long enough for the server to have dropped it (or none yet)
    connection = get_connection()
    # In a helper thread, its sockets cut at the deadline too: smtplib resolves the host
    # as it connects, and a lookup cannot be interrupted.
    cut.call(connection.open)
    _local.connection, _local.used_at = connection, clock.monotonic()
    return connection, False


def _close() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        # A connection that is already gone is closed enough.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.close()
