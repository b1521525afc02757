"""Cutting an SMTP conversation at a deadline, from another thread.

smtplib's `timeout` bounds each blocking socket operation, not a whole send
(https://docs.python.org/3/library/smtplib.html#smtplib.SMTP), and Django's SMTP backend
says no more (https://docs.djangoproject.com/en/5.2/topics/email/#smtp-backend). The email
claim must never be taken over while its send may still go out (email_app.services), so
the send is cut at its deadline: the socket of the backend's smtplib.SMTP (its
undocumented `sock` attribute) is shut down, and the blocked call returns at once.

Canary: tests/worker/compat/test_smtp_cut.py, which fails once smtplib's send takes a
deadline of its own (then this goes, and email_app.transport passes that deadline)."""

import contextlib
import socket
import sys

from . import version_guard

version_guard("django", checked=("5.2", "5.3"), patch=__name__)
if not (3, 11) <= sys.version_info[:2] < (3, 14):
    raise ImportError(f"{__name__} was checked on Python 3.11 to 3.13 only")


def smtp_connection_cut(backend) -> None:
    """Shut the socket of Django's SMTP `backend` down, whatever its thread is doing."""
    sock = getattr(getattr(backend, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
