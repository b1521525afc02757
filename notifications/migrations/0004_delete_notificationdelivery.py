from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0003_deliveries_to_jobs"),
    ]

    operations = [
        migrations.DeleteModel(name="NotificationDelivery"),
    ]
