"""One long-lived connection to the mail server per worker thread: opening one (TCP, the
greeting, EHLO, STARTTLS and AUTH where used) costs more than sending the message. It is
reopened after sitting idle long enough for a server to drop it, and a message is sent
again once on a fresh connection when the server closed it under us (it refused a command
before accepting anything). A read that timed out is raised instead: smtplib reports it as
a disconnection too, but that server may hold the whole message.

A send has a deadline: past it the connection is cut, whatever the server does, and
SendTimeout is raised. The email worker's threads pool enforces no task time limit, and a
claim must not be taken over while its send may still go out (email_app.services.claims)."""

import contextlib
import smtplib
import threading

from django.core.mail import get_connection

from core import clock
from worker.compat.smtp_cut import smtp_connection_cut

# Servers commonly drop connections idle for a minute or more (RFC 5321 asks for at
# least five); reopening after half a minute avoids meeting a dead one.
IDLE_SECONDS = 30.0

_local = threading.local()


class SendTimeout(TimeoutError):
    """The send passed its deadline and its connection was cut: not sent, as far as the
    client knows (a server that had the whole message may deliver it)."""


def send_message(message, *, deadline: float) -> None:
    """Send one EmailMessage over this thread's connection, by `deadline` (a
    clock.monotonic() value). Raises what the backend raises, or SendTimeout."""
    connection, reused = _connection()
    try:
        _send_by(connection, message, deadline)
    except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
        _close()
        if not reused or isinstance(exc.__context__, TimeoutError):
            raise
        connection, _ = _connection()
        _send_by(connection, message, deadline)
    except BaseException:
        _close()  # the conversation is in an unknown state: start the next one afresh
        raise
    _local.used_at = clock.monotonic()


def _send_by(connection, message, deadline: float) -> None:
    remaining = deadline - clock.monotonic()
    if remaining <= 0:
        raise SendTimeout("the send's deadline passed before it started")
    cut = threading.Event()
    watchdog = threading.Timer(remaining, _cut, args=(connection, cut))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.send_messages([message])
    except BaseException as exc:
        if cut.is_set():
            raise SendTimeout(f"no answer from the mail server within {remaining:.0f}s") from exc
        raise
    finally:
        watchdog.cancel()
    if cut.is_set():  # cut as the send returned: sent, but the connection is gone
        _close()


def _cut(connection, cut: threading.Event) -> None:
    """The blocked send in the other thread returns at once (worker.compat.smtp_cut)."""
    cut.set()
    smtp_connection_cut(connection)


def _connection():
    """(connection, reused?)"""
    connection = getattr(_local, "connection", None)
    idle = clock.monotonic() - getattr(_local, "used_at", 0.0)
    if connection is not None and idle <= IDLE_SECONDS:
        return connection, True
    _close()  # idle long enough for the server to have dropped it (or none yet)
    connection = get_connection()
    connection.open()
    _local.connection, _local.used_at = connection, clock.monotonic()
    return connection, False


def _close() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        # A connection that is already gone is closed enough.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.close()
