from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("worker", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    # The schedule is installed after every migrate now, from what the apps register
    # (worker.apps); this migration installed it once and does nothing today.
    operations = []
