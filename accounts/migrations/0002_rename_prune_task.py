from django.db import migrations

from worker.task_renames import rename_tasks


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("worker", "0005_schedule_login_audit_prune"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [rename_tasks({"core.prune_login_audit": "accounts.prune_login_audit"})]
