from django.db import migrations
from django.db.models import Max
from django.utils import timezone

KIND = "webhook_delivery"
STATUS = {"pending": "pending", "delivered": "done", "failed": "failed"}
# Beat's entries for tasks that are gone: the re-drive (the jobs' lease and the dispatcher
# do its work) and the hourly check of failing endpoints (made at each failed attempt).
GONE_TASKS = ["webhooks.redrive_deliveries", "webhooks.disable_failing_endpoints"]


def deliveries_to_jobs(apps, schema_editor):
    """Each delivery's state becomes its job's (key its id, its endpoint's id the
    concurrency key): a pending one due at its next attempt, its attempts counted; a
    delivered or failed one done or failed when its last attempt was, so that the API's
    history stays. The outbox rows that were to wake deliveries go (the jobs are due), and
    so do their dead letters."""
    Delivery = apps.get_model("webhooks", "Delivery")
    Job = apps.get_model("worker", "Job")
    rows = Delivery.objects.annotate(last_at=Max("attempts__at")).order_by("pk")
    batch = []
    for row in rows.iterator(chunk_size=2000):
        pending = row.status == "pending"
        batch.append(
            Job(
                kind=KIND,
                key=row.pk,
                concurrency_key=str(row.endpoint_id),
                status=STATUS[row.status],
                due_at=(row.next_attempt_at if pending else None) or timezone.now(),
                attempts=row.tries,
                created_at=row.created_at,
                ended_at=None if pending else (row.last_at or row.created_at),
                trace_context=row.trace_context,
            )
        )
        if len(batch) == 2000:
            Job.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    Job.objects.bulk_create(batch, ignore_conflicts=True)
    # A delivery whose task was dead-lettered is a failed job now (redeliverable): its
    # letter's error goes to the job, and the letter, of a task no longer requeueable, goes.
    DeadLetter = apps.get_model("worker", "DeadLetter")
    letters = DeadLetter.objects.filter(task_name="webhooks.deliver", requeued_at__isnull=True)
    for letter in letters.iterator():
        if letter.args:
            failed = Job.objects.filter(kind=KIND, key=str(letter.args[0]), status="failed")
            failed.update(last_error=letter.exception[:4000])
    letters.delete()
    OutboxMessage = apps.get_model("worker", "OutboxMessage")
    OutboxMessage.objects.filter(task_name="webhooks.deliver", published_at__isnull=True).delete()
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=GONE_TASKS).delete()


class Migration(migrations.Migration):
    run_before = [("worker", "0003_outbox_gone")]
    dependencies = [
        ("webhooks", "0001_initial"),
        ("worker", "0002_job"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(deliveries_to_jobs, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="delivery", name="webhook_delivery_pending_idx"),
        migrations.RemoveIndex(model_name="delivery", name="webhook_delivery_leased_idx"),
        migrations.RemoveIndex(model_name="delivery", name="webhook_delivery_waiting_idx"),
        migrations.RemoveField(model_name="delivery", name="status"),
        migrations.RemoveField(model_name="delivery", name="next_attempt_at"),
        migrations.RemoveField(model_name="delivery", name="tries"),
        migrations.RemoveField(model_name="delivery", name="leased_until"),
        migrations.RemoveField(model_name="delivery", name="waiting"),
    ]
