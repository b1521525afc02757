from django.db import migrations
from django.utils import timezone

NAME = "side effects reconciler"


def every_30_seconds(apps, schema_editor):
    """The reconciler ran every minute before a lost message had to cost under two (the
    deadline is a minute now), and without an expiry (worker.schedule). An entry an
    operator changed is left as it is."""
    beat = {
        name: apps.get_model("django_celery_beat", name)
        for name in ("PeriodicTask", "PeriodicTasks", "IntervalSchedule")
    }
    entry = beat["PeriodicTask"].objects.filter(
        name=NAME, interval__every=60, interval__period="seconds"
    )
    if not entry.exists():
        return
    interval, _ = beat["IntervalSchedule"].objects.get_or_create(every=30, period="seconds")
    if entry.update(interval=interval, expire_seconds=None):
        # A running beat reloads its schedule when this moves (no signal in a migration).
        beat["PeriodicTasks"].objects.update_or_create(
            ident=1, defaults={"last_update": timezone.now()}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("side_effects", "0005_trace_context_no_leases"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(every_30_seconds, migrations.RunPython.noop)]
