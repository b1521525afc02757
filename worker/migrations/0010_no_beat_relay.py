from django.db import migrations
from django.utils import timezone


def no_beat_relay(apps, schema_editor):
    """Beat's "outbox relay" entry goes with its task (worker.relay_outbox): the relay
    service is the one relay. Its row would have beat send a task no worker knows."""
    beat = {name: apps.get_model("django_celery_beat", name) for name in ("PeriodicTask", "PeriodicTasks")}
    deleted, _ = beat["PeriodicTask"].objects.filter(task="worker.relay_outbox").delete()
    if deleted:
        # A running beat reloads its schedule when this moves (no signal in a migration).
        beat["PeriodicTasks"].objects.update_or_create(
            ident=1, defaults={"last_update": timezone.now()}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("worker", "0009_beat_lease"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(no_beat_relay, migrations.RunPython.noop)]
