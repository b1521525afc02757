"""worker.compat.smtp_cut: its canary (smtplib still has no deadline for a whole send) and
the cut itself, on a real SMTP server. The cut at work inside a send stalled by the
server: tests/email_app/test_transport.py."""

import inspect
import smtplib

import pytest
from django.core.mail import get_connection

from worker.compat.smtp_cut import smtp_connection_cut


@pytest.mark.parametrize("method", [smtplib.SMTP.sendmail, smtplib.SMTP.send_message])
def test_canary_smtplib_sends_take_no_deadline_of_their_own(method):
    """Fails once smtplib bounds a whole send itself: then the cut goes."""
    assert not {"timeout", "deadline"} & set(inspect.signature(method).parameters)


def test_the_cut_ends_the_backends_connection_at_once(smtp_server):
    backend = get_connection()
    backend.open()
    assert backend.connection.noop()[0] == 250

    smtp_connection_cut(backend)

    with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
        backend.connection.noop()
