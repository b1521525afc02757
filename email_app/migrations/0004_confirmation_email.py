# The order confirmation is the "confirmation_email" side effect, one name everywhere: its
# sent-email rows (the idempotency guard) and its task are renamed with it.

from django.db import migrations, models

from worker.task_renames import rename_tasks


def rename_kind(apps, schema_editor, old="order_confirmation", new="confirmation_email"):
    apps.get_model("email_app", "SentEmail").objects.filter(kind=old).update(kind=new)


def rename_kind_back(apps, schema_editor):
    rename_kind(apps, schema_editor, old="confirmation_email", new="order_confirmation")


class Migration(migrations.Migration):

    dependencies = [
        ("email_app", "0003_duplicate_order_alert"),
        ("worker", "0005_schedule_login_audit_prune"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sentemail",
            name="kind",
            field=models.CharField(choices=[("confirmation_email", "Order confirmation"), ("welcome", "Welcome"), ("low_stock_alert", "Low-stock alert"), ("duplicate_order_alert", "Duplicate-order alert")], max_length=32),
        ),
        migrations.RunPython(rename_kind, rename_kind_back),
        rename_tasks({"email_app.send_order_confirmation": "email_app.send_confirmation_email"}),
    ]
