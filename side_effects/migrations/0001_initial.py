# OrderSideEffect moves here from store with its rows: created in this app's state over
# store's table, which is then renamed; store's 0006 drops it from store's state. Its kinds
# are no longer choices: the apps that own them register them (side_effects.registry).
# The content type (and so permissions and admin history) follows.

import django.db.models.deletion
from django.db import migrations, models

from core.model_moves import move_content_types

import side_effects.models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("store", "0005_duplicates_and_price_history"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OrderSideEffect",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(help_text="A kind an app registered.", max_length=32)),
                        ("status", models.CharField(choices=[("pending", "Pending"), ("done", "Done"), ("failed", "Failed")], default="pending", max_length=16)),
                        ("error", models.TextField(blank=True, default="")),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("deadline", models.DateTimeField(default=side_effects.models.side_effect_deadline)),
                        ("redrives", models.PositiveSmallIntegerField(default=0)),
                        ("order", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="side_effects", to="store.order")),
                    ],
                    options={
                        "db_table": "store_ordersideeffect",
                        "indexes": [
                            models.Index(condition=models.Q(("status", "pending")), fields=["kind", "order"], name="side_effect_pending_idx"),
                            models.Index(condition=models.Q(("status", "pending")), fields=["deadline"], name="side_effect_deadline_idx"),
                        ],
                        "constraints": [
                            models.UniqueConstraint(fields=("order", "kind"), name="order_side_effect_unique"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="ordersideeffect", table=None),
        move_content_types("ordersideeffect", from_app="store", to_app="side_effects"),
    ]
