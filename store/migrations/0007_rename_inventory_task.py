from django.db import migrations

from worker.task_renames import rename_tasks


class Migration(migrations.Migration):

    dependencies = [
        ("store", "0006_ordersideeffect_moved_to_side_effects"),
        ("worker", "0005_schedule_login_audit_prune"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [rename_tasks({"store.apply_order_inventory": "store.apply_inventory"})]
