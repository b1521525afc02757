"""Email digests and pushes are jobs of the one engine (worker.jobs): written with their
notification, in its transaction; and the old pipeline's rows become jobs at migrate."""

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.signals import send_robust_isolated
from notifications import digests, push
from notifications.models import Notification, NotificationPreference, PushSubscription
from store.signals import order_created
from tests.factories import OrderFactory
from tests.support.jobs import jobs_run
from tests.support.push import BrowserKeys, vapid_key_pair
from worker.models import Job

BEFORE = [("notifications", "0001_initial"), ("worker", "0002_job")]
OLD_TASKS = ["notifications.send_pushes", "notifications.send_email_digests"]


def digest_keys() -> set[str]:
    return set(Job.objects.filter(kind=digests.DIGEST_KIND).values_list("key", flat=True))


@pytest.mark.django_db
def test_an_orders_notification_and_its_digest_go_in_with_the_orders_other_rows():
    """Inside order_created (core.signals' isolated inserts), no push due: the notification
    and its digest job wait for the block's end, with the other receivers' rows."""
    order = OrderFactory()
    with transaction.atomic():
        send_robust_isolated(order_created, sender=type(order), about="a test", order=order)
        (note,) = Notification.objects.filter(recipient=order.customer.user)
    minute = digests.digest_minute(note.created_at)
    assert digest_keys() == {f"{order.customer.user_id}:{minute}"}
    assert not Job.objects.filter(kind=push.PUSH_KIND).exists()


@pytest.mark.django_db
def test_a_pushed_notification_goes_in_at_once_with_its_push_jobs(settings):
    """The push jobs' keys name the notification: with a push due, it is inserted in the
    receiver's own savepoint, and its jobs with the other receivers' rows."""
    settings.VAPID_PRIVATE_KEY, settings.VAPID_PUBLIC_KEY = vapid_key_pair()
    order = OrderFactory()
    user = order.customer.user
    keys = BrowserKeys()
    browser = PushSubscription.objects.create(
        user=user, endpoint="https://push.example.net/1", p256dh=keys.p256dh, auth=keys.auth
    )
    NotificationPreference.objects.create(
        user=user, kind="order_placed", in_app=True, email=True, push=True
    )
    push.anyone_subscribed.expire()
    with transaction.atomic():
        send_robust_isolated(order_created, sender=type(order), about="a test", order=order)
    (note,) = Notification.objects.filter(recipient=user)
    (job,) = Job.objects.filter(kind=push.PUSH_KIND)
    assert job.key == f"{note.pk}:{browser.pk}"
    assert len(digest_keys()) == 1


def _epoch_minute_end(minute: int) -> datetime:
    return datetime.fromtimestamp((minute + 1) * 60, tz=UTC)


@contextlib.contextmanager
def before_the_migration():
    """The models as they were at BEFORE, the database migrated there; migrated to the end
    again on leaving, whatever happened inside."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        yield executor.loader.project_state(BEFORE).apps
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def old_notification(old, user, *, minutes_ago: float, now: datetime, **fields):
    """A notification of the old pipeline's, created `minutes_ago` before `now`."""
    Old = old.get_model("notifications", "Notification")
    row = Old.objects.create(recipient=user, kind="order_placed", message="m", **fields)
    at = now - timedelta(minutes=minutes_ago)
    Old.objects.filter(pk=row.pk).update(created_at=at)
    row.created_at = at
    return row


def old_pushes(old, pusher, *, now: datetime):
    """A browser of `pusher`'s; a notification whose push delivery is pending, one too
    recent to have been planned, and one past the push window, read. The browser and the
    first two."""
    Delivery = old.get_model("notifications", "NotificationDelivery")
    Subscription = old.get_model("notifications", "PushSubscription")
    browser = Subscription.objects.create(
        user=pusher, endpoint="https://push.example.net/1", p256dh="k", auth="a"
    )
    planned = old_notification(old, pusher, minutes_ago=5, now=now)
    Delivery.objects.create(
        notification=planned, channel="push", subscription=browser, next_attempt_at=now
    )
    unplanned = old_notification(old, pusher, minutes_ago=0.1, now=now)
    old_notification(old, pusher, minutes_ago=90, now=now, is_read=True)  # nothing
    return browser, planned, unplanned


def old_emails(old, *, sent, pending, soon, failed, now: datetime):
    """Each person's email as the old pipeline left it: `sent` emailed, `pending` one
    planned and one not yet (both due), `soon` one not due yet, `failed` one given up.
    The emailed, the planned, the unplanned due, the not yet due, the given up."""
    Delivery = old.get_model("notifications", "NotificationDelivery")
    emailed = old_notification(old, sent, minutes_ago=30, now=now)
    Delivery.objects.create(
        notification=emailed,
        channel="email",
        status="delivered",
        next_attempt_at=now,
        delivered_at=now - timedelta(minutes=19),
    )
    planned = old_notification(old, pending, minutes_ago=20, now=now)
    Delivery.objects.create(notification=planned, channel="email", next_attempt_at=now)
    unplanned_due = old_notification(old, pending, minutes_ago=12, now=now)
    not_yet_due = old_notification(old, soon, minutes_ago=2, now=now)
    gave_up = old_notification(old, failed, minutes_ago=40, now=now)
    Delivery.objects.create(
        notification=gave_up, channel="email", status="failed", next_attempt_at=now
    )
    return emailed, planned, unplanned_due, not_yet_due, gave_up


def old_senders(old, pusher) -> None:
    """The old senders' outbox row and beat entries. The other apps' tables are as they
    are now."""
    Outbox = old.get_model("worker", "OutboxMessage")
    Outbox.objects.create(task_name="notifications.send_pushes", args=[[pusher.pk]])
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    for task in OLD_TASKS:
        PeriodicTask.objects.create(name=task, task=task, interval=every)


@pytest.mark.django_db(transaction=True)
def test_the_old_pipelines_rows_become_jobs_at_migrate(settings):
    """Pending push deliveries and a recent notification's unplanned browsers: push jobs due
    now. A person's email not yet sent: one digest due now for what is due, one at its
    minute's end for what is not yet. What was emailed is marked; what failed is not sent
    again. The old senders' beat entries and outbox rows go."""
    with before_the_migration() as old:
        now = timezone.now()
        User = old.get_model("auth", "User")
        pusher, sent, pending, soon, failed = (
            User.objects.create(username=name, email=f"{name}@example.com")
            for name in ("pusher", "sent", "pending", "soon", "failed")
        )
        browser, planned_push, unplanned_push = old_pushes(old, pusher, now=now)
        emailed, planned_email, unplanned_due, not_yet_due, gave_up = old_emails(
            old, sent=sent, pending=pending, soon=soon, failed=failed, now=now
        )
        old_senders(old, pusher)

    pushes = Job.objects.filter(kind=push.PUSH_KIND)
    assert set(pushes.values_list("key", flat=True)) == {
        f"{planned_push.pk}:{browser.pk}",
        f"{unplanned_push.pk}:{browser.pk}",
    }
    due_minute = digests.digest_minute(unplanned_due.created_at)
    soon_minute = digests.digest_minute(not_yet_due.created_at)
    pusher_minutes = {digests.digest_minute(n.created_at) for n in (planned_push, unplanned_push)}
    assert digest_keys() == {f"{pending.pk}:{due_minute}", f"{soon.pk}:{soon_minute}"} | {
        f"{pusher.pk}:{minute}" for minute in pusher_minutes
    }
    soon_job = Job.objects.get(kind=digests.DIGEST_KIND, key=f"{soon.pk}:{soon_minute}")
    assert soon_job.due_at == _epoch_minute_end(soon_minute) > timezone.now()
    assert Job.objects.get(key=f"{pending.pk}:{due_minute}").due_at <= timezone.now()
    marked = dict(Notification.objects.values_list("pk", "emailed_at"))
    assert marked[emailed.pk] == now - timedelta(minutes=19)
    assert marked[gave_up.pk] is None and marked[planned_email.pk] is None

    assert not PeriodicTask.objects.filter(task__in=OLD_TASKS).exists()
    # (The outbox's table went after these rows had gone: worker's 0003.)

    # The digest due now takes both of that person's, in one email.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    jobs_run(digests.DIGEST_KIND)
    (digest,) = mail.outbox
    assert digest.to == ["pending@example.com"]
    assert digest.subject == "2 notifications you have not read"
