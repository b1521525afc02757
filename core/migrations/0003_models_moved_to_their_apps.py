# Notification (notifications), Message (messaging), LoginEvent and LoginFailure (accounts)
# now live in their apps, which took over the tables: they leave core's state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0002_login_audit"),
        ("accounts", "0001_initial"),
        ("messaging", "0001_initial"),
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="LoginEvent"),
                migrations.DeleteModel(name="LoginFailure"),
                migrations.DeleteModel(name="Message"),
                migrations.DeleteModel(name="Notification"),
            ],
            database_operations=[],
        ),
    ]
