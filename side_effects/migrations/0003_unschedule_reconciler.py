from django.db import migrations


def unschedule_reconciler(apps, schema_editor):
    """Beat's entry for the side effects' reconciler, whose task is gone (the jobs' lease
    and the dispatcher do its work)."""
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task="side_effects.reconcile").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("side_effects", "0002_side_effects_to_jobs"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [migrations.RunPython(unschedule_reconciler, migrations.RunPython.noop)]
