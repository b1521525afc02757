"""The email channel: unread past the delay, one digest a person, a job of the one engine,
through a real SMTP server; read first, no email; the unsubscribe link in the headers."""

from datetime import timedelta

import pytest
from django.db.models.functions import Now

from notifications import digests, emails, unsubscribe_links
from notifications.models import Notification
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.jobs import jobs_run
from tests.support.notifications import EMAIL_DUE_MINUTES, digest_jobs, due_now, notify
from tests.support.smtp import body_text, unsubscribe_link
from worker.celery import app

DIGEST = digests.DIGEST_KIND

pytestmark = pytest.mark.django_db


def run_digests(runs: int = 1) -> list[str]:
    return jobs_run(DIGEST, runs=runs)


def test_a_notification_enqueues_its_digest_due_at_the_end_of_the_minute_it_is_due(
    settings, wall_clock
):
    """Due SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES after it was made, within the next minute
    (by the database's clock); a second notification due in the same minute joins it."""
    wall_clock.now = wall_clock.now.replace(second=10, microsecond=0)  # not at a minute's end
    user = UserFactory(email="ann@example.com")
    first = notify(user, "Order #1 confirmed", kind="order_placed")
    wall_clock.advance(0.5)
    notify(user, "Order #2 confirmed", kind="order_placed")

    minute = digests.digest_minute(first.created_at)
    (job,) = digest_jobs(user).annotate(now=Now())
    assert job.key == f"{user.pk}:{minute}" and job.concurrency_key == str(user.pk)
    wait = digests.digest_due_at(minute) - first.created_at
    delay = timedelta(minutes=settings.SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES)
    assert delay <= wait < delay + timedelta(minutes=1)
    # From the enqueue, by the database's clock (a statement's, a moment before this one).
    assert timedelta(0) <= wait - (job.due_at - job.now) < timedelta(seconds=5)
    assert run_digests() == []  # not due yet


def test_two_notifications_unread_past_the_delay_reach_smtp_as_one_digest(smtp_server):
    user = UserFactory(email="ann@example.com")
    first = notify(
        user, "Order #1 confirmed: 9.00", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES
    )
    second = notify(user, "New message about order #1", minutes_ago=EMAIL_DUE_MINUTES)
    recent = notify(user, "too recent to email", minutes_ago=1)
    notify(
        UserFactory(email="bob@example.com"),
        "Low stock: mug",
        kind="low_stock",
        minutes_ago=EMAIL_DUE_MINUTES,
    )

    assert len(run_digests()) == 2
    (digest,) = smtp_server.messages_to("ann@example.com")
    text = body_text(digest)
    assert "Order #1 confirmed" in text and "New message about order #1" in text
    assert "too recent" not in text
    assert unsubscribe_link(digest).startswith("http")
    emailed = dict(Notification.objects.values_list("pk", "emailed_at"))
    assert emailed[first.pk] and emailed[second.pk] and emailed[recent.pk] is None
    assert len(smtp_server.messages_to("bob@example.com")) == 1

    assert run_digests() == []  # nothing twice; the recent one's digest is not due yet
    assert len(smtp_server.messages) == 2
    assert digest_jobs(user).filter(status="pending").count() == 1


def test_a_digest_takes_what_of_the_persons_is_due_and_not_yet_emailed(smtp_server):
    """Two minutes' digests due at once (a worker was away): one at a time (a person's
    concurrency key), the first sends both notifications in one email, the second finds
    nothing left, and sends nothing."""
    user = UserFactory(email="ann@example.com")
    notify(user, "Order #1 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES + 2)
    notify(user, "Order #2 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    assert digest_jobs(user).count() == 2

    assert len(run_digests()) == 1
    assert len(run_digests()) == 1
    (digest,) = smtp_server.messages
    assert "Order #1" in body_text(digest) and "Order #2" in body_text(digest)
    assert set(digest_jobs(user).values_list("status", flat=True)) == {"done"}


def test_a_notification_read_in_the_app_before_its_digest_is_not_emailed(smtp_server):
    user = UserFactory(email="ann@example.com")
    row = notify(user, "Order #1 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    notify(user, "Order #2 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    client_for(user).post(f"/api/notifications/{row.pk}/read/")

    assert len(run_digests()) == 1
    (digest,) = smtp_server.messages
    assert "Order #2" in body_text(digest) and "Order #1" not in body_text(digest)
    assert digest["Subject"] == "Order #2 confirmed"


def test_with_nothing_left_unread_the_digest_is_done_without_an_email(smtp_server):
    user = UserFactory(email="ann@example.com")
    row = notify(user, "Order #1 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    client_for(user).post(f"/api/notifications/{row.pk}/read/")

    assert len(run_digests()) == 1
    assert smtp_server.messages == []
    assert digest_jobs(user).get().status == "done"


def test_with_email_off_for_a_kind_no_digest_has_it_and_other_kinds_still_go(smtp_server):
    user = UserFactory(email="ann@example.com")
    client_for(user).put(
        "/api/notifications/preferences/", {"message": {"email": False}}, format="json"
    )
    notify(user, "a message", minutes_ago=EMAIL_DUE_MINUTES)
    notify(user, "Order #2 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    run_digests()
    (digest,) = smtp_server.messages
    assert "Order #2 confirmed" in body_text(digest) and "a message" not in body_text(digest)


def test_email_turned_off_after_the_notification_was_made_is_heeded_when_it_is_due(smtp_server):
    user = UserFactory(email="ann@example.com")
    notify(user, "Order #2 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    client_for(user).put(
        "/api/notifications/preferences/", {"order_placed": {"email": False}}, format="json"
    )
    assert len(run_digests()) == 1
    assert smtp_server.messages == []


def test_an_smtp_failure_retries_the_digest_after_the_backoff_then_it_goes(smtp_server, settings):
    user = UserFactory(email="ann@example.com")
    row = notify(user, "Order #3 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    smtp_server.handler.refuse_next = 1

    assert run_digests() == []
    job = digest_jobs(user).annotate(now=Now()).get()
    assert (job.status, job.attempts) == ("pending", 1)
    assert "451" in job.last_error
    # The one backoff's first wait: 0 to SHOPFLOW_TASK_RETRY_BACKOFF seconds (full jitter).
    assert job.due_at <= job.now + timedelta(seconds=settings.SHOPFLOW_TASK_RETRY_BACKOFF)
    assert Notification.objects.get(pk=row.pk).emailed_at is None

    due_now(digest_jobs(user))
    assert len(run_digests()) == 1
    assert digest_jobs(user).get().status == "done"
    assert len(smtp_server.messages) == 1
    assert Notification.objects.get(pk=row.pk).emailed_at is not None


def test_a_digest_smtp_keeps_refusing_fails_after_the_tasks_retries(smtp_server, settings):
    settings.SHOPFLOW_TASK_MAX_RETRIES = 2
    user = UserFactory(email="ann@example.com")
    notify(user, "Order #3 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    smtp_server.handler.refuse_next = 10  # 451: try again later
    for _ in range(4):  # the first attempt and two retries, each once due; then none
        due_now(digest_jobs(user).filter(status="pending"))
        assert run_digests() == []
    job = digest_jobs(user).get()
    assert (job.status, job.attempts) == ("failed", 3)
    assert smtp_server.handler.attempts == 3


def test_a_digest_smtp_refuses_for_good_fails_at_once(smtp_server):
    user = UserFactory(email="ann@example.com")
    notify(user, "Order #3 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    smtp_server.handler.refuse_always = True  # 554
    assert run_digests() == []
    job = digest_jobs(user).get()
    assert (job.status, job.attempts) == ("failed", 1) and "554" in job.last_error


def test_a_digest_goes_out_once_with_a_message_id_even_when_its_marks_were_lost(smtp_server):
    """A worker killed after SMTP took the digest, before its notifications were marked
    emailed and its job done: the next attempt finds email_app's sent-once row, sends
    nothing twice, and marks them."""
    user = UserFactory(email="ann@example.com")
    row = notify(user, "Order #4 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    assert len(run_digests()) == 1
    (digest,) = smtp_server.messages
    assert digest["Message-ID"].strip().startswith("<notification_digest.")
    Notification.objects.filter(pk=row.pk).update(emailed_at=None)
    digest_jobs(user).update(status="pending", ended_at=None)

    assert len(run_digests()) == 1
    assert len(smtp_server.messages) == 1
    assert Notification.objects.get(pk=row.pk).emailed_at is not None


def test_after_lost_marks_what_came_due_since_is_left_for_a_later_digest(smtp_server):
    """The attempt that finds its email sent marks only its own minute's notifications:
    another, due since, may not have been in it, and goes in its own digest (at least
    once)."""
    user = UserFactory(email="ann@example.com")
    first = notify(
        user, "Order #5 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES + 2
    )
    assert len(run_digests()) == 1
    Notification.objects.filter(pk=first.pk).update(emailed_at=None)
    digest_jobs(user).update(status="pending", ended_at=None)
    later = notify(user, "Order #6 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)

    assert len(run_digests(runs=2)) == 2
    earlier_email, later_email = smtp_server.messages
    assert "Order #5" in body_text(earlier_email) and "Order #6" not in body_text(earlier_email)
    assert "Order #6" in body_text(later_email) and "Order #5" not in body_text(later_email)
    assert Notification.objects.filter(pk__in=[first.pk, later.pk], emailed_at=None).count() == 0


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
    assert len(run_digests()) == 1
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
    assert len(run_digests()) == 1
    assert smtp_server.messages[0]["Subject"] == "New message about order #1: see you soon"


def test_a_person_without_an_email_address_gets_no_digest_and_the_job_is_done(smtp_server):
    user = UserFactory(email="")
    notify(user, "Order #5 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    assert len(run_digests()) == 1
    assert smtp_server.messages == []
    assert digest_jobs(user).get().status == "done"


def test_unread_notifications_older_than_the_lookback_are_not_emailed(smtp_server):
    user = UserFactory(email="ann@example.com")
    old = emails.LOOKBACK + timedelta(minutes=EMAIL_DUE_MINUTES + 5)
    notify(user, "Order #6 confirmed", kind="order_placed", minutes_ago=old.total_seconds() / 60)
    notify(user, "Order #7 confirmed", kind="order_placed", minutes_ago=EMAIL_DUE_MINUTES)
    run_digests()
    (digest,) = smtp_server.messages
    assert "Order #7" in body_text(digest) and "Order #6" not in body_text(digest)


def test_the_digests_go_from_the_mail_workers_queue():
    assert app.amqp.router.route({}, "notifications.send_email_digests")["queue"].name == "emails"
