from django.db import migrations


def install(apps, schema_editor):
    from worker.schedule import install_default_schedule

    install_default_schedule(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("worker", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
