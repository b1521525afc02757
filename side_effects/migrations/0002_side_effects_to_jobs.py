from django.db import migrations
from django.db.models.functions import Now


def side_effects_to_jobs(apps, schema_editor):
    """Each order's side effect becomes its job of the same kind, keyed by the order's id:
    a pending one due now (the dispatcher wakes it), a done or failed one as it ended."""
    OrderSideEffect = apps.get_model("side_effects", "OrderSideEffect")
    Job = apps.get_model("worker", "Job")
    batch = []
    for row in OrderSideEffect.objects.order_by("pk").iterator(chunk_size=2000):
        ended = row.status != "pending"
        batch.append(
            Job(
                kind=row.kind,
                key=str(row.order_id),
                status=row.status,
                due_at=Now(),
                created_at=row.created_at,
                ended_at=row.updated_at if ended else None,
                last_error=row.error,
                trace_context=row.trace_context,
            )
        )
        if len(batch) == 2000:
            Job.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    Job.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("side_effects", "0001_initial"),
        ("worker", "0002_job"),
    ]

    operations = [
        migrations.RunPython(side_effects_to_jobs, migrations.RunPython.noop),
        migrations.DeleteModel(name="OrderSideEffect"),
    ]
