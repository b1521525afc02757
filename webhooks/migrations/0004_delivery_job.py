"""Each delivery points to its job (webhooks.models.Delivery.job): the job's end is the
delivery's, and the engine's prune of ended jobs takes the delivery and its attempts with
it. The column is filled here, and made required in 0005 (PostgreSQL alters no table with
this transaction's foreign key checks pending)."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Exists, Max, OuterRef, Subquery

KIND = "webhook_delivery"
# Beat's entry for the deliveries' own prune, a task that is gone.
GONE_TASKS = ["webhooks.prune_deliveries"]


def deliveries_to_their_jobs(apps, schema_editor):
    """Each delivery gets its job (kind webhook_delivery, key its id). One without a job
    (deleted by hand, or pruned first: the jobs' retention counted from their end, the
    deliveries' from their event) gets a failed job, ended at its last attempt or else its
    event, rather than being deleted: nothing would have tried it again, so failed is where
    it stands; it stays listed with its attempts, redeliverable, until the retention takes
    it as any other. Beat's entry for the deliveries' own prune goes."""
    Delivery = apps.get_model("webhooks", "Delivery")
    Job = apps.get_model("worker", "Job")
    jobs = Job.objects.filter(kind=KIND, key=OuterRef("pk"))
    jobless = Delivery.objects.filter(~Exists(jobs)).annotate(last_at=Max("attempts__at"))
    batch = []
    for row in jobless.order_by("pk").iterator(chunk_size=2000):
        batch.append(
            Job(
                kind=KIND,
                key=row.pk,
                concurrency_key=str(row.endpoint_id),
                status="failed",
                created_at=row.created_at,
                ended_at=row.last_at or row.created_at,
                last_error="its job was gone (webhooks 0004): redeliver to send it",
            )
        )
        if len(batch) == 2000:
            Job.objects.bulk_create(batch)
            batch = []
    Job.objects.bulk_create(batch)
    Delivery.objects.update(job=Subquery(jobs.values("pk")[:1]))
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=GONE_TASKS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0003_delivery_trace_in_its_job"),
        ("worker", "0003_outbox_gone"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="job",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="webhook_delivery",
                to="worker.job",
            ),
        ),
        # Backwards, the column goes: the failed jobs made stay, as the jobs they were.
        migrations.RunPython(deliveries_to_their_jobs, migrations.RunPython.noop),
    ]
