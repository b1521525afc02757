# Notification moves here from core with its rows: created in this app's state over core's
# table, which is then renamed; core's 0003 drops it from core's state. Content types (and
# so permissions and admin history) follow.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.model_moves import move_content_types


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_login_audit"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Notification",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(choices=[("order_placed", "Order placed"), ("message", "New message"), ("low_stock", "Low stock"), ("side_effect_failed", "Side effect failed"), ("duplicate_order", "Duplicate order")], max_length=32)),
                        ("message", models.CharField(max_length=500)),
                        ("link", models.CharField(blank=True, default="", max_length=200)),
                        ("is_read", models.BooleanField(default=False)),
                        ("read_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("recipient", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="notifications", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "core_notification",
                        "ordering": ["-id"],
                        "indexes": [
                            models.Index(fields=["recipient", "is_read", "-id"], name="notification_unread_idx"),
                            models.Index(fields=["recipient", "-id"], name="notification_recipient_idx"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="notification", table=None),
        move_content_types("notification", from_app="core", to_app="notifications"),
    ]
