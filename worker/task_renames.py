"""For migrations of apps that rename or remove a Celery task: the name is also data, in
the outbox's unpublished rows, the dead letters not yet requeued, and beat's entries."""

from django.db import migrations
from django.utils import timezone


def rename_tasks(renames: dict[str, str]) -> migrations.RunPython:
    """A migration operation renaming the tasks of `renames` ({old name: new name}) where
    they wait to run; reversible. The migration depends on worker's and beat's."""

    def forwards(apps, schema_editor):
        _rename(apps, renames)

    def backwards(apps, schema_editor):
        _rename(apps, {new: old for old, new in renames.items()})

    return migrations.RunPython(forwards, backwards)


def drop_unpublished(task_names: list[str]) -> migrations.RunPython:
    """A migration operation deleting the unpublished outbox rows of tasks that no longer
    exist (workers would refuse them), for a migration whose app does their work another
    way; not reversed. The migration depends on worker's."""

    def forwards(apps, schema_editor):
        outbox = apps.get_model("worker", "OutboxMessage")
        outbox.objects.filter(task_name__in=task_names, published_at__isnull=True).delete()

    return migrations.RunPython(forwards, migrations.RunPython.noop)


def _rename(apps, renames: dict[str, str]) -> None:
    outbox = apps.get_model("worker", "OutboxMessage")
    dead_letter = apps.get_model("worker", "DeadLetter")
    beat_entry = apps.get_model("django_celery_beat", "PeriodicTask")
    beat_changed = False
    for old, new in renames.items():
        outbox.objects.filter(task_name=old, published_at__isnull=True).update(task_name=new)
        dead_letter.objects.filter(task_name=old, requeued_at__isnull=True).update(task_name=new)
        beat_changed |= bool(beat_entry.objects.filter(task=old).update(task=new))
    if beat_changed:  # a running beat reloads its schedule when this moves
        apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
            ident=1, defaults={"last_update": timezone.now()}
        )
