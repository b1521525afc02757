"""Sending over a real SMTP server (aiosmtpd): the deadline that keeps a send within its
claim, whatever the worker pool."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from email_app.models import SentEmail
from email_app.services import emails
from email_app.transport import SendTimeout
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_send_slower_than_its_claim_allows_is_cut_so_a_retry_sends_it_once(smtp_server, settings):
    """The email worker's threads pool enforces no time limit, so the send stops itself at
    half the claim window: a later delivery that finds the claim stale can never take over
    a send still under way. Without the cut, the first send waited on the stalled server
    past the claim's life, and then went out beside the retry's."""
    settings.SHOPFLOW_EMAIL_CLAIM_SECONDS = 2
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
            first.result(timeout=settings.SHOPFLOW_EMAIL_CLAIM_SECONDS)
    assert not SentEmail.objects.exists()  # the claim freed: not sent, as far as we know

    assert emails.welcome_send(user_id=user.pk) is True  # the retry
    assert smtp_server.handler.rcpt_stall_over.wait(timeout=10)  # the stalled session ended
    assert len(smtp_server.messages_to(user.email)) == 1
    assert SentEmail.objects.get(kind="welcome").status == "sent"
