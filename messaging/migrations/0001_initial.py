# Message moves here from core with its rows: created in this app's state over core's
# table, which is then renamed; core's 0003 drops it from core's state. Its content type
# (and so permissions and admin history) follows.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.model_moves import move_content_types


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_login_audit"),
        ("store", "0005_duplicates_and_price_history"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Message",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("body", models.TextField(max_length=5000)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("author", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="order_messages", to=settings.AUTH_USER_MODEL)),
                        ("order", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="messages", to="store.order")),
                    ],
                    options={
                        "db_table": "core_message",
                        "ordering": ["id"],
                        "indexes": [models.Index(fields=["order", "id"], name="message_order_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="message", table=None),
        move_content_types("message", from_app="core", to_app="messaging"),
    ]
