from django.db import migrations
from django.db.models.functions import Now

# The tasks now woken for jobs, and the job key each outbox row's arguments give.
KINDS = {
    "email_app.send_welcome_email": ("welcome_email", lambda args: f"{args[0]}"),
    "email_app.send_low_stock_alert": ("low_stock_alert", lambda args: f"{args[0]}:{args[1]}"),
    "email_app.send_duplicate_orders_alert": ("duplicate_orders_alert", lambda args: f"{args[0]}"),
}


def outbox_rows_to_jobs(apps, schema_editor):
    """Each unpublished outbox row of these tasks becomes its job, due now."""
    OutboxMessage = apps.get_model("worker", "OutboxMessage")
    Job = apps.get_model("worker", "Job")
    rows = OutboxMessage.objects.filter(task_name__in=KINDS, published_at__isnull=True)
    jobs = []
    for row in rows.iterator():
        kind, key = KINDS[row.task_name]
        jobs.append(Job(kind=kind, key=key(row.args), due_at=Now(), trace_context=row.trace_context))
    Job.objects.bulk_create(jobs, ignore_conflicts=True)
    rows.delete()


class Migration(migrations.Migration):
    run_before = [("worker", "0003_outbox_gone")]
    dependencies = [
        ("email_app", "0001_initial"),
        ("worker", "0002_job"),
    ]

    operations = [migrations.RunPython(outbox_rows_to_jobs, migrations.RunPython.noop)]
