# OrderSideEffect now lives in side_effects, which took over the table: it leaves store's
# state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("store", "0005_duplicates_and_price_history"),
        ("side_effects", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OrderSideEffect")],
            database_operations=[],
        ),
    ]
