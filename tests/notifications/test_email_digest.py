"""The email channel: unread past the delay, one digest a person, through a real SMTP
server; read first, no email; the unsubscribe link in the headers."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from notifications import delivery, emails, unsubscribe_links
from notifications.models import NotificationDelivery
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.notifications import EMAIL_DUE_MINUTES, notify
from tests.support.smtp import body_text, unsubscribe_link

CLAIM = timedelta(seconds=settings.SHOPFLOW_NOTIFICATION_CLAIM_SECONDS)

pytestmark = pytest.mark.django_db


def test_two_notifications_unread_past_the_delay_reach_smtp_as_one_digest(smtp_server):
    user = UserFactory(email="ann@example.com")
    first = notify(
        user, "Order #1 confirmed: 9.00", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES
    )
    second = notify(user, "New message about order #1", minutes_ago=EMAIL_DUE_MINUTES)
    notify(user, "too recent to email", minutes_ago=1)
    notify(
        UserFactory(email="bob@example.com"),
        "Low stock: mug",
        kind="low_stock",
        minutes_ago=EMAIL_DUE_MINUTES,
    )

    assert emails.email_digests_send() == 2
    (digest,) = smtp_server.messages_to("ann@example.com")
    text = body_text(digest)
    assert "Order #1 confirmed" in text and "New message about order #1" in text
    assert "too recent" not in text
    assert unsubscribe_link(digest).startswith("http")
    states = NotificationDelivery.objects.filter(notification__in=[first, second])
    assert {d.status for d in states} == {"delivered"}

    assert emails.email_digests_send() == 0  # nothing twice
    assert len(smtp_server.messages_to("ann@example.com")) == 1


def test_a_notification_read_in_the_app_before_the_delay_is_not_emailed(smtp_server):
    user = UserFactory(email="ann@example.com")
    row = notify(user, "Order #1 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    client_for(user).post(f"/api/notifications/{row.pk}/read/")
    assert emails.email_digests_send() == 0
    assert smtp_server.messages == []


def test_reading_it_after_it_was_planned_but_before_it_went_out_cancels_it(smtp_server):
    user = UserFactory(email="ann@example.com")
    row = notify(user, "Order #1 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    assert delivery.deliveries_plan(emails.SENDER) == 1
    client_for(user).post(f"/api/notifications/{row.pk}/read/")
    assert emails.email_digests_send() == 0
    assert smtp_server.messages == []
    assert NotificationDelivery.objects.get(notification=row).status == "cancelled"


def test_with_email_off_for_a_kind_no_digest_has_it_and_other_kinds_still_go(smtp_server):
    user = UserFactory(email="ann@example.com")
    client_for(user).put(
        "/api/notifications/preferences/", {"message": {"email": False}}, format="json"
    )
    notify(user, "a message", minutes_ago=EMAIL_DUE_MINUTES)
    notify(user, "Order #2 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    assert emails.email_digests_send() == 1
    (digest,) = smtp_server.messages
    assert "Order #2 confirmed" in body_text(digest) and "a message" not in body_text(digest)


def test_an_smtp_failure_leaves_the_deliveries_pending_with_the_error_then_they_go(
    smtp_server, settings
):
    user = UserFactory(email="ann@example.com")
    row = notify(user, "Order #3 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    smtp_server.handler.refuse_next = 1
    now = timezone.now()
    assert emails.email_digests_send(now=now) == 0
    failed_by = timezone.now()
    delivery = NotificationDelivery.objects.get(notification=row)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "451" in delivery.last_error
    # The one backoff's first wait, from the failure: 0 to SHOPFLOW_TASK_RETRY_BACKOFF
    # seconds (full jitter).
    first_wait = timedelta(seconds=settings.SHOPFLOW_TASK_RETRY_BACKOFF)
    assert now <= delivery.next_attempt_at <= failed_by + first_wait
    assert emails.email_digests_send(now=failed_by + first_wait) == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert len(smtp_server.messages) == 1


def test_a_digest_smtp_keeps_refusing_fails_after_the_tasks_retries(smtp_server, settings):
    settings.SHOPFLOW_TASK_MAX_RETRIES = 2
    user = UserFactory(email="ann@example.com")
    row = notify(user, "Order #3 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    smtp_server.handler.refuse_always = True
    now = timezone.now()
    for attempt in range(3):  # the first attempt and two retries, each once due
        assert emails.email_digests_send(now=now + timedelta(hours=attempt)) == 0
    delivery = NotificationDelivery.objects.get(notification=row)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert emails.email_digests_send(now=now + timedelta(hours=5)) == 0
    assert smtp_server.handler.attempts == 3


def test_a_digest_goes_out_once_with_a_message_id_even_when_its_record_was_lost(smtp_server):
    """A worker killed after SMTP took the digest, before its rows were marked delivered:
    the next run finds email_app's sent-once row, and sends nothing twice."""
    user = UserFactory(email="ann@example.com")
    row = notify(user, "Order #4 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    assert emails.email_digests_send() == 1
    (digest,) = smtp_server.messages
    assert digest["Message-ID"].strip().startswith("<notification_digest.")
    NotificationDelivery.objects.filter(notification=row).update(status="pending", attempts=0)

    assert emails.email_digests_send() == 1
    assert len(smtp_server.messages) == 1
    assert NotificationDelivery.objects.get(notification=row).status == "delivered"


def test_a_sign_in_alert_is_emailed_even_when_read_and_offers_no_unsubscribe(smtp_server):
    """Whoever signed in could read it in the app to hide it from the owner."""
    user = UserFactory(email="ann@example.com")
    row = notify(
        user,
        "New sign-in to your account from curl",
        kind="new_device_login",
        minutes_ago=EMAIL_DUE_MINUTES,
    )
    client_for(user).post(f"/api/notifications/{row.pk}/read/")
    assert emails.email_digests_send() == 1
    (digest,) = smtp_server.messages
    assert "New sign-in" in body_text(digest)
    assert digest["List-Unsubscribe"] is None
    forged_kind = unsubscribe_links.unsubscribe_url(user_id=user.pk, kind="new_device_login")
    path = "/" + forged_kind.split("://", 1)[1].split("/", 1)[1]
    from rest_framework.test import APIClient

    assert APIClient().get(path).status_code == 400  # cannot be turned off


def test_a_message_with_a_line_break_still_makes_a_one_line_subject(smtp_server):
    user = UserFactory(email="ann@example.com")
    notify(user, "New message about order #1:\nsee you\r\nsoon", minutes_ago=EMAIL_DUE_MINUTES)
    assert emails.email_digests_send() == 1
    assert smtp_server.messages[0]["Subject"] == "New message about order #1: see you soon"


def test_a_persons_deliveries_are_not_split_across_claimed_batches(smtp_server, monkeypatch):
    monkeypatch.setattr(delivery, "BATCH", 3)  # two people's 2 + 2 rows: batches of 3
    for address in ("ann@example.com", "bob@example.com"):
        user = UserFactory(email=address)
        notify(user, "Order #1 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
        notify(user, "Order #2 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    assert emails.email_digests_send() == 2
    for address in ("ann@example.com", "bob@example.com"):
        (digest,) = smtp_server.messages_to(address)
        assert "Order #1" in body_text(digest) and "Order #2" in body_text(digest)


def test_a_retry_after_a_lost_record_with_more_now_due_emails_only_what_is_new(smtp_server):
    """A worker killed after SMTP took the digest, before its rows were marked delivered;
    another notification is due by the retry: it goes alone, the first is not sent again."""
    user = UserFactory(email="ann@example.com")
    first = notify(user, "Order #5 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    assert emails.email_digests_send() == 1
    NotificationDelivery.objects.filter(notification=first).update(status="pending", attempts=0)
    notify(user, "Order #6 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)

    assert emails.email_digests_send(now=timezone.now() + CLAIM) == 1
    earlier, later = smtp_server.messages
    assert "Order #5" in body_text(earlier) and "Order #6" not in body_text(earlier)
    assert "Order #6" in body_text(later) and "Order #5" not in body_text(later)
    assert {d.status for d in NotificationDelivery.objects.all()} == {"delivered"}
