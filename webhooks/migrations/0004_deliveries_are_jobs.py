import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

KIND = "webhook_delivery"


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def deliveries_into_jobs(apps, schema_editor):
    """Each delivery's event goes to its job's payload (the body every attempt sends), and
    its attempts point to its job. A delivery with no job (its job deleted by hand) goes,
    with its attempts: nothing would have sent it again. A job with no delivery (pruned
    before its job, or deleted with its endpoint) goes too: it has no event to send."""
    Delivery = apps.get_model("webhooks", "Delivery")
    Job = apps.get_model("worker", "Job")
    Attempt = apps.get_model("webhooks", "Attempt")
    jobs = Job.objects.filter(kind=KIND)
    chunk = []
    for delivery in Delivery.objects.order_by("pk").iterator(chunk_size=1000):
        chunk.append(delivery)
        if len(chunk) == 1000:
            _payloads(jobs, chunk)
            chunk = []
    _payloads(jobs, chunk)
    Attempt.objects.update(job=Subquery(jobs.filter(key=OuterRef("delivery_id")).values("pk")[:1]))
    Attempt.objects.filter(job__isnull=True).delete()
    jobs.filter(payload__isnull=True).delete()
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="webhooks.prune_deliveries").delete()  # the jobs' prune


def _payloads(jobs, deliveries):
    by_key = {job.key: job for job in jobs.filter(key__in=[row.pk for row in deliveries])}
    for delivery in deliveries:
        if job := by_key.get(delivery.pk):
            job.payload = {
                "type": delivery.event_type,
                "timestamp": iso(delivery.created_at),
                "data": delivery.payload,
            }
    jobs.model.objects.bulk_update(list(by_key.values()), ["payload"])


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0003_delivery_trace_in_its_job"),
        ("worker", "0004_job_payload"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="attempt",
            name="job",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="worker.job",
            ),
        ),
        migrations.RunPython(deliveries_into_jobs, migrations.RunPython.noop),
        migrations.RemoveField(model_name="attempt", name="delivery"),
        migrations.DeleteModel(name="Delivery"),
        migrations.CreateModel(
            name="Delivery",
            fields=[],
            options={"verbose_name_plural": "deliveries", "proxy": True},
            bases=("worker.job",),
        ),
        migrations.RenameField(model_name="attempt", old_name="job", new_name="delivery"),
        migrations.AlterField(
            model_name="attempt",
            name="delivery",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="attempt_records",
                to="webhooks.delivery",
            ),
        ),
    ]
