from django.db import migrations


def install(apps, schema_editor):
    # Creates the entries this version adds (the login audit prune); entries an operator
    # changed are left as they are.
    from worker.schedule import install_default_schedule

    install_default_schedule(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("worker", "0004_schedule_reconciler"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
