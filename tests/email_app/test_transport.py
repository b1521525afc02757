"""Sending over a real SMTP server (aiosmtpd): the deadline that keeps a send within its
claim, whatever the worker pool."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from email_app import services
from email_app.models import SentEmail
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
            return services.welcome_send(user_id=user.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(first_delivery)
        assert smtp_server.handler.rcpt_stalled.wait(timeout=10)
        with pytest.raises(SendTimeout):
            first.result(timeout=settings.SHOPFLOW_EMAIL_CLAIM_SECONDS)
    assert not SentEmail.objects.exists()  # the claim freed: not sent, as far as we know

    assert services.welcome_send(user_id=user.pk) is True  # the retry
    assert smtp_server.handler.rcpt_stall_over.wait(timeout=10)  # the stalled session ended
    assert len(smtp_server.messages_to(user.email)) == 1
    assert SentEmail.objects.get(kind="welcome").status == "sent"


@pytest.mark.parametrize(("senders", "at_once"), [(8, 4), (1, 1)])
def test_a_batchs_emails_wait_on_a_slow_server_side_by_side(
    smtp_server, settings, customer, senders, at_once
):
    """Four confirmations in one run, the server taking its time over each: with senders,
    the server receives them all at once; with one, one after another."""
    from tests.support.orders import place_order

    settings.SHOPFLOW_EMAIL_SENDERS = senders
    smtp_server.handler.delay = 0.3
    order_ids = [place_order(customer)["id"] for _ in range(4)]

    assert sorted(services.confirmation_emails_send(order_ids=order_ids)) == sorted(order_ids)
    assert sorted(m["Subject"] for m in smtp_server.messages) == sorted(
        f"Your Shopflow order #{o}" for o in order_ids
    )
    assert smtp_server.handler.most_received_at_once == at_once
