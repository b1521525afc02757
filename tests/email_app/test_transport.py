"""Sending over a real SMTP server (aiosmtpd): the deadline that keeps a send within its
job's lease, whatever the worker pool."""

import asyncio
import smtplib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from django.core.mail import EmailMessage
from django.db import connection

from core import clock
from email_app import transport
from email_app.models import SentEmail
from email_app.services import emails
from email_app.transport import SendTimeout
from tests.factories import UserFactory
from tests.support.smtp import SmtpHandler, SmtpServer
from tests.support.trickle import TrickleServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_send_slower_than_its_deadline_is_cut_so_a_retry_sends_it_once(smtp_server, settings):
    """The email worker's threads pool enforces no time limit, so the send stops itself at
    its deadline (SHOPFLOW_EMAIL_SEND_SECONDS), well within its job's lease: the next
    attempt never runs beside it. Without the cut, the first send waited on the stalled
    server past the lease, and then went out beside the retry's."""
    settings.SHOPFLOW_EMAIL_SEND_SECONDS = 2
    settings.EMAIL_TIMEOUT = 30  # per socket operation: it bounds no whole send
    user = UserFactory()
    smtp_server.handler.stall_next_rcpt = 4.0

    def first_delivery():
        try:
            return emails.welcome_send(user_id=user.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(first_delivery)
        assert smtp_server.handler.rcpt_stalled.wait(timeout=10)
        with pytest.raises(SendTimeout):
            first.result(timeout=settings.SHOPFLOW_EMAIL_SEND_SECONDS + 2)
    assert not SentEmail.objects.exists()  # not sent, as far as we know

    assert emails.welcome_send(user_id=user.pk) is True  # the retry
    assert smtp_server.handler.rcpt_stall_over.wait(timeout=10)  # the stalled session ended
    assert len(smtp_server.messages_to(user.email)) == 1
    assert SentEmail.objects.filter(kind="welcome").count() == 1


@dataclass
class LateReplyHandler(SmtpHandler):
    """Keeps each message as it arrives, and answers the next one `late_next` seconds late:
    a server slow to reply that holds the whole message already."""

    late_next: float = 0.0

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        late, self.late_next = self.late_next, 0.0
        await asyncio.sleep(late)  # a fixed wait is the point: a server slow to answer DATA
        return answer


def test_a_reply_slower_than_the_socket_timeout_is_not_sent_again_at_once(settings):
    """smtplib reports a read that timed out as SMTPServerDisconnected, as it does a
    connection the server closed. On a kept connection the second means "send again on a
    fresh one"; the first does not: the server may hold the whole message. Sent again at
    once, it went out twice."""
    deadline = clock.monotonic() + 30
    with SmtpServer(LateReplyHandler()) as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_TIMEOUT = 1
        transport.send_message(mail("first@example.com"), deadline=deadline)  # kept after
        server.handler.late_next = 3.0

        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            transport.send_message(mail("slow@example.com"), deadline=deadline)
        assert len(server.messages_to("slow@example.com")) == 1


def test_a_server_that_trickles_its_greeting_is_cut_at_the_deadline(settings):
    """Opening a connection is part of the send: a server that sends its greeting a byte a
    second, each within the socket's timeout, is cut at the send's deadline."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_TIMEOUT = 30  # per socket operation: it bounds no whole send
    with TrickleServer(b"220") as server:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        started = clock.monotonic()
        with pytest.raises(SendTimeout, match=r"the SMTP send: cut at its 2\.0 s deadline"):
            transport.send_message(mail("slow@example.com"), deadline=started + 2.0)
        assert 2.0 <= clock.monotonic() - started <= 4.0


def mail(to: str) -> EmailMessage:
    return EmailMessage(subject="Hello", body="Hi", from_email="shop@example.com", to=[to])
