"""One long-lived connection to the mail server per worker thread.

Opening an SMTP connection costs a TCP handshake, the greeting, EHLO (and STARTTLS and
AUTH where used) before the first message: more than sending the message itself. A
worker thread keeps its connection open between tasks and reopens it when the settings
change, after it sat idle long enough for a server to drop it, or when the server closed
it under us (then the message is sent again on a fresh connection, once: the server
refused a command before accepting anything)."""

import contextlib
import smtplib
import threading
import time

from django.conf import settings
from django.core.mail import get_connection

# Servers commonly drop connections idle for a minute or more (RFC 5321 asks for at
# least five); reopening after half a minute avoids meeting a dead one.
IDLE_SECONDS = 30.0

_local = threading.local()


def send_message(message) -> None:
    """Send one EmailMessage over this thread's connection. Raises what the backend raises."""
    connection, reused = _connection()
    try:
        connection.send_messages([message])
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        _close()
        if not reused:
            raise
        connection, _ = _connection()
        connection.send_messages([message])
    except BaseException:
        _close()  # the conversation is in an unknown state: start the next one afresh
        raise
    _local.used_at = time.monotonic()


def _settings_key() -> tuple:
    return (
        settings.EMAIL_BACKEND,
        settings.EMAIL_HOST,
        settings.EMAIL_PORT,
        settings.EMAIL_HOST_USER,
        settings.EMAIL_USE_TLS,
        getattr(settings, "EMAIL_USE_SSL", False),
    )


def _connection():
    """(connection, reused?)"""
    key = _settings_key()
    connection = getattr(_local, "connection", None)
    idle = time.monotonic() - getattr(_local, "used_at", 0.0)
    if connection is not None and (_local.key != key or idle > IDLE_SECONDS):
        _close()
        connection = None
    if connection is not None:
        return connection, True
    connection = get_connection()
    connection.open()
    _local.connection, _local.key, _local.used_at = connection, key, time.monotonic()
    return connection, False


def _close() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        # A connection that is already gone is closed enough.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.close()
