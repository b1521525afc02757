from django.db import migrations

from worker.task_renames import rename_tasks


class Migration(migrations.Migration):

    dependencies = [
        ("analytics_app", "0001_initial"),
        ("worker", "0005_schedule_login_audit_prune"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [rename_tasks({"analytics_app.record_order_event": "analytics_app.record_analytics"})]
