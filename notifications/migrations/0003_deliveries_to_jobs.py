"""The notifications' own delivery pipeline gives way to jobs (worker.jobs): each pending
push delivery, and each browser of a recent notification none was planned for yet, becomes
a `notification_push` job due now; each person's email not yet sent (pending, or not yet
planned) a `notification_digest` job, due now for what is due already, at its minute's end
for the rest. What the old pipeline emailed is marked emailed; its delivered, cancelled and
failed rows go with their table (0004). Beat's entries of the old senders and their
unpublished outbox rows go too."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import migrations
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

# As notifications.push, notifications.emails and notifications.preferences say now.
PUSH_KIND, DIGEST_KIND = "notification_push", "notification_digest"
PLAN_WINDOW = timedelta(hours=1)
LOOKBACK = timedelta(days=1)
REQUIRED_EMAIL_KINDS = ["new_device_login"]
OLD_TASKS = ["notifications.send_pushes", "notifications.send_email_digests"]


def deliveries_to_jobs(apps, schema_editor):
    Job = apps.get_model("worker", "Job")
    now = timezone.now()
    jobs = _push_jobs(apps, now=now) + _digest_jobs(apps, now=now)
    Job.objects.bulk_create(jobs, ignore_conflicts=True, batch_size=1000)
    apps.get_model("worker", "OutboxMessage").objects.filter(
        task_name__in=OLD_TASKS, published_at__isnull=True
    ).delete()
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(task__in=OLD_TASKS).delete()[0]:
        # A running beat reloads its schedule once this moves.
        apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
            ident=1, defaults={"last_update": now}
        )


def _push_jobs(apps, *, now) -> list:
    Job = apps.get_model("worker", "Job")
    Notification = apps.get_model("notifications", "Notification")
    Delivery = apps.get_model("notifications", "NotificationDelivery")
    browsers: dict[int, list[int]] = {}
    for user_id, pk in apps.get_model("notifications", "PushSubscription").objects.values_list(
        "user_id", "pk"
    ):
        browsers.setdefault(user_id, []).append(pk)
    pending = Delivery.objects.filter(channel="push", status="pending", subscription__isnull=False)
    keys = set(pending.values_list("notification_id", "subscription_id"))
    unplanned = Notification.objects.filter(
        created_at__gt=now - PLAN_WINDOW, recipient_id__in=list(browsers)
    ).exclude(deliveries__channel="push")
    for pk, user_id in unplanned.values_list("pk", "recipient_id"):
        keys.update((pk, browser) for browser in browsers[user_id])
    return [Job(kind=PUSH_KIND, key=f"{n}:{s}") for n, s in sorted(keys)]


def _digest_jobs(apps, *, now) -> list:
    Job = apps.get_model("worker", "Job")
    Notification = apps.get_model("notifications", "Notification")
    Delivery = apps.get_model("notifications", "NotificationDelivery")
    emails = Delivery.objects.filter(channel="email")
    delivered = emails.filter(status="delivered")
    Notification.objects.filter(pk__in=delivered.values("notification_id")).update(
        emailed_at=Subquery(delivered.filter(notification=OuterRef("pk")).values("delivered_at")[:1])
    )
    delay = timedelta(minutes=settings.SHOPFLOW_NOTIFY_EMAIL_AFTER_MINUTES)
    candidates = Notification.objects.filter(
        Q(is_read=False) | Q(kind__in=REQUIRED_EMAIL_KINDS),
        created_at__gt=now - delay - LOOKBACK,
    ).exclude(pk__in=emails.exclude(status="pending").values("notification_id"))
    due_now: dict[int, int] = {}  # a person's latest minute past: one digest takes them all
    later: set[tuple[int, int]] = set()
    for user_id, created_at in candidates.values_list("recipient_id", "created_at"):
        minute = int((created_at + delay).timestamp() // 60)
        if _end_of(minute) <= now:
            due_now[user_id] = max(minute, due_now.get(user_id, minute))
        else:
            later.add((user_id, minute))
    return [
        Job(kind=DIGEST_KIND, key=f"{user_id}:{minute}", concurrency_key=str(user_id))
        for user_id, minute in due_now.items()
    ] + [
        Job(
            kind=DIGEST_KIND,
            key=f"{user_id}:{minute}",
            concurrency_key=str(user_id),
            due_at=_end_of(minute),
        )
        for user_id, minute in sorted(later)
    ]


def _end_of(minute: int) -> datetime:
    return datetime.fromtimestamp((minute + 1) * 60, tz=UTC)


class Migration(migrations.Migration):
    run_before = [("worker", "0003_outbox_gone")]
    dependencies = [
        ("notifications", "0002_notification_emailed_at"),
        ("worker", "0002_job"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [migrations.RunPython(deliveries_to_jobs, migrations.RunPython.noop)]
