# LoginEvent and LoginFailure move here from core with their rows: the models are created
# in this app's state over core's tables, which are then renamed; core's 0003 drops them
# from core's state. Content types (and so permissions and admin history) follow.

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
                    name="LoginFailure",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("username", models.CharField(blank=True, default="", max_length=150)),
                        ("at", models.DateTimeField(auto_now_add=True)),
                        ("ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("user_agent", models.CharField(blank=True, default="", max_length=300)),
                    ],
                    options={
                        "db_table": "core_loginfailure",
                        "ordering": ["-at", "-id"],
                        "indexes": [
                            models.Index(fields=["ip", "at"], name="loginfailure_ip_idx"),
                            models.Index(fields=["username", "at"], name="loginfailure_username_idx"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="LoginEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("at", models.DateTimeField(auto_now_add=True)),
                        ("ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("user_agent", models.CharField(blank=True, default="", max_length=300)),
                        ("method", models.CharField(choices=[("session", "Session"), ("admin", "Admin"), ("token", "API token")], max_length=16)),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="login_events", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "core_loginevent",
                        "ordering": ["-at", "-id"],
                        "indexes": [models.Index(fields=["user", "-at"], name="loginevent_user_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="loginfailure", table=None),
        migrations.AlterModelTable(name="loginevent", table=None),
        move_content_types("loginevent", "loginfailure", from_app="core", to_app="accounts"),
    ]
