# Staff hear of duplicate orders in one notification a window (store's DuplicateAlert),
# made with the alert, instead of one an order by a task. The task is gone; what it had not
# notified, the first window's alert names (store 0008).

from django.db import migrations

from worker.task_renames import drop_unpublished


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0005_new_device_login_kind"),
        ("worker", "0005_schedule_login_audit_prune"),
    ]

    operations = [drop_unpublished(["notifications.notify_duplicate_order"])]
