from django.db import migrations
from django.utils import timezone

# Celery's expiry is an instant by beat's clock that the worker compares with its own: an
# entry with a short one never runs on a worker whose clock is ahead by that much.
SHORT_SECONDS = 1800


def clear_short_expiries(apps, schema_editor):
    """The entries whose expiry is under half an hour (the outbox relay, the reconciler,
    the notification sender's, the duplicate-order alerts) have none now (worker.schedule):
    a late run of theirs does what a timely one would."""
    beat = {name: apps.get_model("django_celery_beat", name) for name in ("PeriodicTask", "PeriodicTasks")}
    if beat["PeriodicTask"].objects.filter(expire_seconds__lt=SHORT_SECONDS).update(
        expire_seconds=None
    ):
        # A running beat reloads its schedule when this moves (no signal in a migration).
        beat["PeriodicTasks"].objects.update_or_create(
            ident=1, defaults={"last_update": timezone.now()}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("worker", "0007_outbox_retries_and_database_clock"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(clear_short_expiries, migrations.RunPython.noop)]
